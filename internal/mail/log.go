package mail

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// DefaultOutboxCapacity is how many messages Log keeps when NewLog is given no positive capacity.
const DefaultOutboxCapacity = 100

// OutboxEntry is one message Log has "sent".
type OutboxEntry struct {
	At      time.Time
	To      string
	Subject string
	Text    string
	HTML    string
}

// Log is the development Sender: instead of delivering, it logs each message, text body included,
// and keeps the newest ones for the dev outbox page. Printing the code is the point in
// development; the log record carries dev_only=true so that it stands out if it ever shows up
// elsewhere. Never use Log in production. It is safe for concurrent use.
type Log struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	ring []OutboxEntry // ring buffer of cap(ring) entries
	next int           // index the next entry goes to
	full bool          // whether the ring has wrapped
}

var _ Sender = (*Log)(nil)

// NewLog returns a Log that writes to logger (nil: discard) and keeps the last capacity messages
// (DefaultOutboxCapacity when capacity < 1).
func NewLog(logger *slog.Logger, capacity int) *Log {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if capacity < 1 {
		capacity = DefaultOutboxCapacity
	}
	return &Log{log: logger, now: time.Now, ring: make([]OutboxEntry, capacity)}
}

// Send validates m like the real senders do, logs it and adds it to the outbox. It fails only for
// an invalid message (ErrPermanent) or an ended ctx.
func (l *Log) Send(ctx context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Provider: "log", kind: ErrTemporary, cause: err}
	}
	e := OutboxEntry{At: l.now(), To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
	l.mu.Lock()
	l.ring[l.next] = e
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	l.mu.Unlock()

	l.log.LogAttrs(ctx, slog.LevelInfo, "mail: development outbox",
		slog.Bool("dev_only", true),
		slog.String("provider", "log"),
		slog.String("outcome", OutcomeSent),
		slog.String("to", Mask(m.To)),
		slog.String("subject", m.Subject),
		slog.Any("tags", m.Tags),
		slog.String("idempotency_key", m.IdempotencyKey),
		slog.String("text", m.Text),
	)
	return nil
}

// Outbox returns copies of the kept messages, newest first.
func (l *Log) Outbox() []OutboxEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	out := make([]OutboxEntry, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

// Last returns the newest kept message to the address to (compared case-insensitively, as the
// store folds email case) and whether there is one.
func (l *Log) Last(to string) (OutboxEntry, bool) {
	for _, e := range l.Outbox() {
		if strings.EqualFold(e.To, to) {
			return e, true
		}
	}
	return OutboxEntry{}, false
}
