package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// newTestLog returns a Log with capacity whose clock starts at t0 and advances a minute per
// message, and its JSON log output.
func newTestLog(t *testing.T, capacity int) (*Log, *sync.Mutex, *bytes.Buffer) {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewJSONHandler(syncWriter{&mu, &buf}, nil)), capacity)
	clock := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	l.now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		clock = clock.Add(time.Minute)
		return clock
	}
	return l, &mu, &buf
}

// numbered is the i-th test message, to one of two recipients.
func numbered(i int) Message {
	m := validMessage()
	m.Subject = fmt.Sprintf("message %d", i)
	if i%2 == 1 {
		m.To = "bob@example.com"
	}
	return m
}

func TestLogOutbox(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		send     int
		want     []string // subjects, newest first
	}{
		{"empty", 3, 0, []string{}},
		{"below capacity", 3, 2, []string{"message 1", "message 0"}},
		{"exactly full", 3, 3, []string{"message 2", "message 1", "message 0"}},
		{"wrapped: oldest dropped", 3, 5, []string{"message 4", "message 3", "message 2"}},
		{"capacity one", 1, 4, []string{"message 3"}},
		{"zero capacity uses the default", 0, DefaultOutboxCapacity + 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, _ := newTestLog(t, tt.capacity)
			for i := range tt.send {
				if err := l.Send(context.Background(), numbered(i)); err != nil {
					t.Fatal(err)
				}
			}
			out := l.Outbox()
			if tt.want == nil {
				if len(out) != DefaultOutboxCapacity || out[0].Subject != fmt.Sprintf("message %d", tt.send-1) {
					t.Fatalf("len(Outbox()) = %d, want %d with the newest first", len(out), DefaultOutboxCapacity)
				}
				return
			}
			got := make([]string, len(out))
			for i, e := range out {
				got[i] = e.Subject
				if i > 0 && !e.At.Before(out[i-1].At) {
					t.Errorf("entry %d at %v is not older than entry %d at %v", i, e.At, i-1, out[i-1].At)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Outbox() subjects = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLogOutboxIsACopy(t *testing.T) {
	l, _, _ := newTestLog(t, 2)
	if err := l.Send(context.Background(), validMessage()); err != nil {
		t.Fatal(err)
	}
	l.Outbox()[0].Text = "changed"
	if got := l.Outbox()[0].Text; got != validMessage().Text {
		t.Errorf("changing Outbox()'s result changed the outbox: %q", got)
	}
}

func TestLogLast(t *testing.T) {
	l, _, _ := newTestLog(t, 3)
	for i := range 4 { // 0 and 2 to ann, 1 and 3 to bob; message 0 drops out
		if err := l.Send(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, to, want string
		ok             bool
	}{
		{"newest to ann", "ann.lee@example.com", "message 2", true},
		{"newest to bob", "bob@example.com", "message 3", true},
		{"case-insensitive", "Ann.Lee@EXAMPLE.com", "message 2", true},
		{"nobody", "carol@example.com", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := l.Last(tt.to)
			if ok != tt.ok || e.Subject != tt.want {
				t.Errorf("Last(%q) = %q, %v; want %q, %v", tt.to, e.Subject, ok, tt.want, tt.ok)
			}
			if ok && (e.HTML != validMessage().HTML || e.Text != validMessage().Text || e.At.IsZero()) {
				t.Errorf("Last(%q) = %+v: bodies or time missing", tt.to, e)
			}
		})
	}
}

func TestLogRecord(t *testing.T) {
	l, mu, buf := newTestLog(t, 3)
	m := validMessage()
	if err := l.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	recs := logRecords(t, mu, buf)
	if len(recs) != 1 {
		t.Fatalf("%d log records, want 1", len(recs))
	}
	want := map[string]any{
		"level": "INFO", "dev_only": true, "to": "a***@example.com", "subject": m.Subject, "text": m.Text,
		"idempotency_key": m.IdempotencyKey,
	}
	for k, v := range want {
		if recs[0][k] != v {
			t.Errorf("log %s = %#v, want %#v", k, recs[0][k], v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if bytes.Contains(buf.Bytes(), []byte(m.To)) {
		t.Errorf("log holds the full recipient: %s", buf)
	}
}

func TestLogSendErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		change  func(*Message)
		wantErr error
	}{
		{"invalid message", context.Background(), func(m *Message) { m.To = "nobody" }, ErrPermanent},
		{"canceled", canceled, func(*Message) {}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, _ := newTestLog(t, 3)
			m := validMessage()
			tt.change(&m)
			if err := l.Send(tt.ctx, m); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send() = %v, want %v", err, tt.wantErr)
			}
			if n := len(l.Outbox()); n != 0 {
				t.Errorf("outbox holds %d messages after a failed Send", n)
			}
		})
	}
}

// TestLogConcurrent sends, reads the outbox and looks up messages at once; run with -race.
func TestLogConcurrent(t *testing.T) {
	const capacity, senders, each = 10, 8, 25
	l := NewLog(nil, capacity)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				m := validMessage()
				m.Subject = fmt.Sprintf("sender %d message %d", g, i)
				if err := l.Send(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range each {
				if n := len(l.Outbox()); n > capacity {
					t.Errorf("outbox holds %d > %d", n, capacity)
				}
				l.Last("ann.lee@example.com")
			}
		}()
	}
	wg.Wait()
	out := l.Outbox()
	if len(out) != capacity {
		t.Fatalf("len(Outbox()) = %d, want %d", len(out), capacity)
	}
	seen := map[string]bool{}
	for _, e := range out {
		if seen[e.Subject] {
			t.Errorf("%q kept twice", e.Subject)
		}
		seen[e.Subject] = true
	}
}
