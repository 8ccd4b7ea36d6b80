package sms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestLog returns a Log on a manual clock and its log output.
func newTestLog(t *testing.T) (*Log, *time.Time, *probe) {
	t.Helper()
	p := &probe{}
	l := NewLog(slog.New(slog.NewJSONHandler(p, nil)), nil)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	l.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	return l, &now, p
}

func mustStart(t *testing.T, l *Log, r StartRequest) (id, code string) {
	t.Helper()
	id, err := l.Start(context.Background(), r)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	out := l.Outbox()
	if len(out) == 0 || out[0].RequestID != id {
		t.Fatalf("outbox %v does not start with %s", out, id)
	}
	return id, out[0].Code
}

// wrongCode returns a valid code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func TestLogCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, l *Log, id, code string)
	}{
		{"right code, then the id is done", func(t *testing.T, l *Log, id, code string) {
			if err := l.Check(ctx, id, code); err != nil {
				t.Fatalf("Check(right) = %v", err)
			}
			if err := l.Check(ctx, id, code); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second Check = %v, want ErrNotFound", err)
			}
		}},
		{"wrong codes up to 5, then dead", func(t *testing.T, l *Log, id, code string) {
			for i := 1; i < logMaxWrong; i++ {
				if err := l.Check(ctx, id, wrongCode(code)); !errors.Is(err, ErrWrongCode) {
					t.Fatalf("wrong try %d = %v, want ErrWrongCode", i, err)
				}
			}
			if err := l.Check(ctx, id, wrongCode(code)); !errors.Is(err, ErrTooManyWrong) {
				t.Fatalf("wrong try 5 = %v, want ErrTooManyWrong", err)
			}
			if err := l.Check(ctx, id, code); !errors.Is(err, ErrNotFound) {
				t.Fatalf("right code after 5 wrong = %v, want ErrNotFound", err)
			}
		}},
		{"four wrong then right", func(t *testing.T, l *Log, id, code string) {
			for i := 1; i < logMaxWrong; i++ {
				_ = l.Check(ctx, id, wrongCode(code))
			}
			if err := l.Check(ctx, id, code); err != nil {
				t.Fatalf("right code after 4 wrong = %v", err)
			}
		}},
		{"malformed code is invalid and not counted", func(t *testing.T, l *Log, id, code string) {
			for range 10 {
				if err := l.Check(ctx, id, "12a"); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Check(12a) = %v, want ErrInvalid", err)
				}
			}
			if err := l.Check(ctx, id, code); err != nil {
				t.Fatalf("right code = %v", err)
			}
		}},
		{"unknown id", func(t *testing.T, l *Log, id, code string) {
			if err := l.Check(ctx, "nope", code); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Check(unknown) = %v, want ErrNotFound", err)
			}
		}},
		{"cancel ends it", func(t *testing.T, l *Log, id, code string) {
			if err := l.Cancel(ctx, id); err != nil {
				t.Fatalf("Cancel = %v", err)
			}
			if err := l.Cancel(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second Cancel = %v, want ErrNotFound", err)
			}
			if err := l.Check(ctx, id, code); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Check after Cancel = %v, want ErrNotFound", err)
			}
			if _, err := l.Start(ctx, startRequest(true)); err != nil {
				t.Fatalf("Start after Cancel = %v", err)
			}
		}},
		{"next channel calls with the same code, once", func(t *testing.T, l *Log, id, code string) {
			if err := l.NextChannel(ctx, id); err != nil {
				t.Fatalf("NextChannel = %v", err)
			}
			out := l.Outbox()
			if len(out) != 2 || out[0].Channel != ChannelVoice || out[0].Code != code || out[1].Channel != ChannelSMS {
				t.Fatalf("outbox = %+v, want voice then sms, newest first", out)
			}
			if err := l.NextChannel(ctx, id); !errors.Is(err, ErrConflict) {
				t.Fatalf("second NextChannel = %v, want ErrConflict", err)
			}
			if err := l.Check(ctx, id, code); err != nil {
				t.Fatalf("Check after NextChannel = %v", err)
			}
		}},
		{"conflict while running carries its id", func(t *testing.T, l *Log, id, code string) {
			_, err := l.Start(ctx, startRequest(false))
			var ce *ConflictError
			if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) || ce.RequestID != id {
				t.Fatalf("second Start = %v, want a ConflictError with %s", err, id)
			}
			r := startRequest(false)
			r.To = "+447400999999"
			if _, err := l.Start(ctx, r); err != nil {
				t.Fatalf("Start to another number = %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, p := newTestLog(t)
			id, code := mustStart(t, l, startRequest(true))
			if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("code %q is not 6 digits", code)
			}
			tt.run(t, l, id, code)
			p.mu.Lock()
			defer p.mu.Unlock()
			// The code belongs in the send records only; the number is always masked.
			for line := range strings.Lines(p.logs.String()) {
				if !strings.Contains(line, `"dev_only":true`) {
					t.Errorf("record without dev_only: %s", line)
				}
				if strings.Contains(line, code) && !strings.Contains(line, `"op":"send"`) {
					t.Errorf("code outside a send record: %s", line)
				}
				if strings.Contains(line, testToDigits) {
					t.Errorf("full number logged: %s", line)
				}
			}
		})
	}
}

func TestLogExpiry(t *testing.T) {
	ctx := context.Background()
	l, now, _ := newTestLog(t)
	r := startRequest(true) // two steps of 2 min
	id, code := mustStart(t, l, r)
	*now = now.Add(4*time.Minute - time.Second)
	if _, err := l.Start(ctx, r); !errors.Is(err, ErrConflict) {
		t.Fatalf("Start before expiry = %v, want ErrConflict", err)
	}
	*now = now.Add(time.Second)
	if err := l.Check(ctx, id, code); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Check after expiry = %v, want ErrNotFound", err)
	}
	if _, err := l.Start(ctx, r); err != nil {
		t.Fatalf("Start after expiry = %v", err)
	}
}

func TestLogRandomness(t *testing.T) {
	// 0xFFFFFFFF is rejected (above the largest multiple of 10⁶), then 0x00000001 gives 000001.
	src := append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, bytes.Repeat([]byte{0xab}, 16)...)
	l := NewLog(nil, bytes.NewReader(src))
	id, err := l.Start(context.Background(), startRequest(false))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Outbox()[0].Code; got != "000001" {
		t.Errorf("code = %q, want 000001", got)
	}
	if id != "abababab-abab-4bab-abab-abababababab" {
		t.Errorf("request id = %q", id)
	}
	// Out of randomness: unavailable, not a predictable code.
	r := startRequest(false)
	r.To = "+447400999999"
	if _, err := l.Start(context.Background(), r); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Start without randomness = %v, want ErrUnavailable", err)
	}
}

func TestLogConcurrent(t *testing.T) {
	ctx := context.Background()
	const n = 20

	t.Run("one start per number wins", func(t *testing.T) {
		l, _, _ := newTestLog(t)
		ids := make(chan string, n)
		conflicts := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				id, err := l.Start(ctx, startRequest(true))
				var ce *ConflictError
				switch {
				case err == nil:
					ids <- id
				case errors.As(err, &ce):
					conflicts <- ce.RequestID
				default:
					t.Errorf("Start = %v", err)
				}
			})
		}
		wg.Wait()
		close(ids)
		close(conflicts)
		if len(ids) != 1 {
			t.Fatalf("%d starts won, want 1", len(ids))
		}
		won := <-ids
		for c := range conflicts {
			if c != won {
				t.Errorf("conflict names %s, want %s", c, won)
			}
		}
	})

	t.Run("wrong codes are counted atomically", func(t *testing.T) {
		l, _, _ := newTestLog(t)
		id, code := mustStart(t, l, startRequest(true))
		var mu sync.Mutex
		got := map[error]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := l.Check(ctx, id, wrongCode(code))
				for _, s := range []error{ErrWrongCode, ErrTooManyWrong, ErrNotFound} {
					if errors.Is(err, s) {
						mu.Lock()
						got[s]++
						mu.Unlock()
						return
					}
				}
				t.Errorf("Check = %v", err)
			})
		}
		wg.Wait()
		if got[ErrWrongCode] != logMaxWrong-1 || got[ErrTooManyWrong] != 1 || got[ErrNotFound] != n-logMaxWrong {
			t.Errorf("outcomes %v, want %d wrong, 1 too many, %d not found", got, logMaxWrong-1, n-logMaxWrong)
		}
	})

	t.Run("the right code passes once", func(t *testing.T) {
		l, _, _ := newTestLog(t)
		id, code := mustStart(t, l, startRequest(true))
		var mu sync.Mutex
		passed := 0
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := l.Check(ctx, id, code)
				if err == nil {
					mu.Lock()
					passed++
					mu.Unlock()
				} else if !errors.Is(err, ErrNotFound) {
					t.Errorf("Check = %v", err)
				}
				_ = l.NextChannel(ctx, id)
				_ = l.Outbox()
			})
		}
		wg.Wait()
		if passed != 1 {
			t.Errorf("%d checks passed, want 1", passed)
		}
	})
}

func TestLogRefusesInvalidStart(t *testing.T) {
	l, _, _ := newTestLog(t)
	r := startRequest(true)
	r.To = "07400123456"
	if _, err := l.Start(context.Background(), r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Start(national number) = %v, want ErrInvalid", err)
	}
	if len(l.Outbox()) != 0 {
		t.Error("an invalid start reached the outbox")
	}
}
