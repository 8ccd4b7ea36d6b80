package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestSMSAccountDailyLimit: one account gets at most IDP_SMS_LIMIT_ACCOUNT_DAY (10) codes a day,
// whatever numbers and addresses the sends come from; the next day it gets codes again. It is
// the limit behind SECURITY.md's odds of guessing an SMS code (50 guesses a day).
func TestSMSAccountDailyLimit(t *testing.T) {
	h := newMFAHarness(t, nil)
	ctx := context.Background()
	send := func(i int) error {
		// A different number and IP each time, so only the per-account limit can refuse.
		return h.srv.sms.hitLimits(ctx, "user-1", fmt.Sprintf("+4474001234%02d", i), fmt.Sprintf("192.0.2.%d", i))
	}
	for i := 1; i <= 10; i++ {
		if err := send(i); err != nil {
			t.Fatalf("send %d refused: %v", i, err)
		}
		h.clock.Advance(time.Hour) // hourly limits elsewhere never bite
	}
	var r *refusal
	if err := send(11); !errors.As(err, &r) || r.status != http.StatusTooManyRequests {
		t.Fatalf("the 11th send in a day: %v, want a 429 refusal", err)
	}
	if err := h.srv.sms.hitLimits(ctx, "user-2", "+447400123499", "192.0.2.99"); err != nil {
		t.Fatalf("another account refused: %v", err)
	}
	h.clock.Advance(15 * time.Hour) // 25 h after the first send
	if err := send(12); err != nil {
		t.Fatalf("a send the next day refused: %v", err)
	}
}

// TestSMSAccountDailyLimitConcurrent: 40 sends for one account fired together, each from its own
// number and address, reserve their places atomically: exactly the daily 10 get through.
func TestSMSAccountDailyLimitConcurrent(t *testing.T) {
	h := newMFAHarness(t, nil)
	ctx := context.Background()
	var got tally
	fire(40, 40, func(i int) {
		err := h.srv.sms.hitLimits(ctx, "user-1", fmt.Sprintf("+4474001234%02d", i), fmt.Sprintf("192.0.2.%d", i+1))
		var r *refusal
		switch {
		case err == nil:
			got.add("sent")
		case errors.As(err, &r) && r.status == http.StatusTooManyRequests:
			got.add("refused")
		default:
			t.Errorf("send %d: %v", i, err)
		}
	})
	if got.get("sent") != 10 || got.get("refused") != 30 {
		t.Fatalf("40 sends at once: %v, want 10 sent and 30 refused", got.n)
	}
}
