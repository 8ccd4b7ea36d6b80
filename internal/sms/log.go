package sms

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

const (
	// logMaxWrong is how many wrong codes end a Log verification (docs/ARCHITECTURE.md, "Rules that hold everywhere": ≤5 wrong tries).
	logMaxWrong = 5
	// logOutboxCapacity is how many sent codes Outbox keeps.
	logOutboxCapacity = 100
)

// OutboxEntry is one code the Log verifier has "sent".
type OutboxEntry struct {
	At        time.Time
	To        string // E.164
	Code      string
	Channel   string // ChannelSMS or ChannelVoice
	RequestID string
}

// Log is the development Verifier: it generates each code with the injected randomness
// (crypto/rand by default), writes it to the log with dev_only=true and keeps it for the dev
// outbox page, and behaves like Vonage otherwise: one running verification per number (Start
// gives a *ConflictError with its id), five wrong codes end it with ErrTooManyWrong, each step
// lasts ChannelTimeout, and a finished, cancelled or expired verification is ErrNotFound. Never
// use it in production. It is safe for concurrent use.
type Log struct {
	log  *slog.Logger
	rand io.Reader
	now  func() time.Time

	mu      sync.Mutex
	running map[string]*logVerification // by request id
	byTo    map[string]string           // number → request id of its running verification
	outbox  []OutboxEntry               // oldest first, at most logOutboxCapacity
}

// logVerification is one running verification of Log.
type logVerification struct {
	to      string
	code    string
	steps   []string
	step    int           // index into steps of the running step
	timeout time.Duration // per step
	expires time.Time     // when the last step ends
	wrong   int
}

var _ Verifier = (*Log)(nil)

// NewLog returns a Log that writes to logger (nil: discard) and draws codes and request ids from
// random (nil: crypto/rand.Reader; tests may pass a deterministic reader).
func NewLog(logger *slog.Logger, random io.Reader) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if random == nil {
		random = rand.Reader
	}
	return &Log{log: logger, rand: random, now: time.Now,
		running: map[string]*logVerification{}, byTo: map[string]string{}}
}

// Start implements Verifier.
func (l *Log) Start(ctx context.Context, r StartRequest) (string, error) {
	if err := r.validate(); err != nil {
		return "", l.record(ctx, OpStart, r.To, "", "", err)
	}
	if err := ctx.Err(); err != nil {
		return "", l.record(ctx, OpStart, r.To, "", "", fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	if id, ok := l.byTo[r.To]; ok {
		return "", l.record(ctx, OpStart, r.To, id, "", &ConflictError{RequestID: id})
	}
	code, id, err := l.newCodeAndID()
	if err != nil {
		return "", l.record(ctx, OpStart, r.To, "", "", fmt.Errorf("%w: no randomness: %w", ErrUnavailable, err))
	}
	timeout := r.ChannelTimeout
	if timeout == 0 {
		timeout = defaultChannelTimeout
	}
	steps := r.steps()
	l.running[id] = &logVerification{to: r.To, code: code, steps: steps, timeout: timeout,
		expires: l.now().Add(timeout * time.Duration(len(steps)))}
	l.byTo[r.To] = id
	l.send(ctx, id, l.running[id])
	return id, nil
}

// Check implements Verifier. Codes are compared in constant time; the fifth wrong code ends the
// verification.
func (l *Log) Check(ctx context.Context, requestID, code string) error {
	if err := checkCode(code); err != nil {
		return l.record(ctx, OpCheck, "", requestID, "", err)
	}
	return l.with(ctx, OpCheck, requestID, func(v *logVerification) error {
		if subtle.ConstantTimeCompare([]byte(code), []byte(v.code)) == 1 {
			l.end(requestID)
			return nil
		}
		v.wrong++
		if v.wrong >= logMaxWrong {
			l.end(requestID)
			return ErrTooManyWrong
		}
		return ErrWrongCode
	})
}

// NextChannel implements Verifier: the same code is "sent" again on the next channel.
func (l *Log) NextChannel(ctx context.Context, requestID string) error {
	return l.with(ctx, OpNextChannel, requestID, func(v *logVerification) error {
		if v.step+1 >= len(v.steps) {
			return ErrConflict
		}
		v.step++
		v.expires = l.now().Add(v.timeout * time.Duration(len(v.steps)-v.step))
		l.send(ctx, requestID, v)
		return nil
	})
}

// Cancel implements Verifier.
func (l *Log) Cancel(ctx context.Context, requestID string) error {
	return l.with(ctx, OpCancel, requestID, func(*logVerification) error {
		l.end(requestID)
		return nil
	})
}

// Outbox returns the codes sent so far, newest first, for the development outbox page.
func (l *Log) Outbox() []OutboxEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]OutboxEntry, len(l.outbox))
	for i, e := range l.outbox {
		out[len(out)-1-i] = e
	}
	return out
}

// with runs f on the running verification requestID under the lock; unknown ids are ErrNotFound.
// f returns a bare sentinel (or nil).
func (l *Log) with(ctx context.Context, op, requestID string, f func(*logVerification) error) error {
	if err := ctx.Err(); err != nil {
		return l.record(ctx, op, "", requestID, "", fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	v, ok := l.running[requestID]
	if !ok {
		return l.record(ctx, op, "", requestID, "", ErrNotFound)
	}
	to := v.to
	if err := f(v); err != nil {
		return l.record(ctx, op, to, requestID, "", fmt.Errorf("sms: log %s: %w", op, err))
	}
	return l.record(ctx, op, to, requestID, "", nil)
}

// end forgets a verification. Callers hold l.mu.
func (l *Log) end(requestID string) {
	if v, ok := l.running[requestID]; ok {
		delete(l.byTo, v.to)
		delete(l.running, requestID)
	}
}

// expire forgets verifications whose last step has ended. Callers hold l.mu.
func (l *Log) expire() {
	now := l.now()
	for id, v := range l.running {
		if !now.Before(v.expires) {
			l.end(id)
		}
	}
}

// send "sends" v's code on its current channel: the outbox and the log. Callers hold l.mu.
func (l *Log) send(ctx context.Context, id string, v *logVerification) {
	ch := v.steps[v.step]
	l.outbox = append(l.outbox, OutboxEntry{At: l.now(), To: v.to, Code: v.code, Channel: ch, RequestID: id})
	if n := len(l.outbox) - logOutboxCapacity; n > 0 {
		l.outbox = append(l.outbox[:0], l.outbox[n:]...)
	}
	l.record(ctx, "send", v.to, id, ch, nil, slog.String("code", v.code))
}

// record logs one operation and returns err. Only "send" records carry the code, and they are
// marked dev_only=true like every record of Log.
func (l *Log) record(ctx context.Context, op, to, requestID, channel string, err error, extra ...slog.Attr) error {
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Bool("dev_only", true),
		slog.String("provider", "log"),
		slog.String("op", op),
		slog.String("outcome", outcomeOf(err)),
	}
	if to != "" {
		attrs = append(attrs, slog.String("to", MaskPhone(to)))
	}
	if requestID != "" {
		attrs = append(attrs, slog.String("verification_id", clean(requestID)))
	}
	if channel != "" {
		attrs = append(attrs, slog.String("channel", channel))
	}
	attrs = append(attrs, extra...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.log.LogAttrs(ctx, level, "sms: development verifier "+op, attrs...)
	return err
}

// newCodeAndID draws a uniform 6-digit code and a random UUID-shaped request id.
func (l *Log) newCodeAndID() (code, id string, err error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(l.rand, b[:]); err != nil {
			return "", "", err
		}
		// Rejection sampling keeps every code equally likely: 4 294 000 000 is the largest
		// multiple of 10⁶ below 2³².
		if n := binary.BigEndian.Uint32(b[:]); n < 4_294_000_000 {
			code = fmt.Sprintf("%06d", n%1_000_000)
			break
		}
	}
	var u [16]byte
	if _, err := io.ReadFull(l.rand, u[:]); err != nil {
		return "", "", err
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(u[:])
	return code, h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
