package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// testCode is the code in validMessage's bodies; it must never reach a log or an error of Brevo
// or SMTP.
const testCode = "739104"

// validMessage is a Message every Sender accepts; tests change one field at a time.
func validMessage() Message {
	return Message{
		To:             "ann.lee@example.com",
		Subject:        "Acme Pay — security code",
		Text:           "Your code is " + testCode + ".\n",
		HTML:           "<p>Your code is <b>" + testCode + "</b>.</p>",
		Tags:           []string{"verify-code"},
		IdempotencyKey: "verify-code:2f1c9e:1",
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "ann.lee@example.com", "a***@example.com"},
		{"one letter local part", "a@example.com", "a***@example.com"},
		{"non-ASCII first letter", "élise@example.fr", "é***@example.fr"},
		{"quoted local part with @", `"a@b"@example.com`, "***@example.com"},
		{"empty local part", "@example.com", "***@example.com"},
		{"no at sign", "not-an-address", "***"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		secrets []string
		want    string
	}{
		{"address masked", "550 <ann.lee@example.com>: no such user", nil, "550 <a***@example.com>: no such user"},
		{"two addresses", "bob@x.org and carol@y.org", nil, "b***@x.org and c***@y.org"},
		{"secret removed", "bad key xkeysib-123 given", []string{"xkeysib-123"}, "bad key [redacted] given"},
		{"empty secret ignored", "nothing to hide", []string{""}, "nothing to hide"},
		{"control characters", "line one\r\nline two\x00", nil, "line one  line two"},
		{"long text cut", strings.Repeat("é", 150), nil, strings.Repeat("é", 100) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Message)
		ok     bool
	}{
		{"valid", func(*Message) {}, true},
		{"empty idempotency key", func(m *Message) { m.IdempotencyKey = "" }, true},
		{"no tags", func(m *Message) { m.Tags = nil }, true},
		{"no recipient", func(m *Message) { m.To = "" }, false},
		{"display name", func(m *Message) { m.To = "Ann <ann@example.com>" }, false},
		{"two recipients", func(m *Message) { m.To = "ann@example.com, bob@example.com" }, false},
		{"surrounding space", func(m *Message) { m.To = " ann@example.com" }, false},
		{"header injection in recipient", func(m *Message) { m.To = "ann@example.com\r\nBcc: eve@example.com" }, false},
		{"too long", func(m *Message) { m.To = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com" }, false},
		{"no subject", func(m *Message) { m.Subject = " " }, false},
		{"header injection in subject", func(m *Message) { m.Subject = "hi\r\nBcc: eve@example.com" }, false},
		{"no text", func(m *Message) { m.Text = "" }, false},
		{"no HTML", func(m *Message) { m.HTML = "" }, false},
		{"empty tag", func(m *Message) { m.Tags = []string{""} }, false},
		{"key with space", func(m *Message) { m.IdempotencyKey = "a b" }, false},
		{"key too long", func(m *Message) { m.IdempotencyKey = strings.Repeat("k", 129) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.change(&m)
			err := m.validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrPermanent) {
				t.Fatalf("validate() = %v, want ErrPermanent", err)
			}
			if m.To != "" && strings.Contains(err.Error(), m.To) {
				t.Errorf("error %q repeats the recipient", err)
			}
		})
	}
}

func TestSendError(t *testing.T) {
	tests := []struct {
		name      string
		err       *SendError
		want      string
		permanent bool
		canceled  bool
	}{
		{
			name:      "Brevo rejection",
			err:       &SendError{Provider: "brevo", Status: 401, Code: "unauthorized", Detail: "Key not found", Attempts: 1, kind: ErrPermanent},
			want:      `mail: brevo: status 401 code "unauthorized": Key not found (permanent failure after 1 attempt)`,
			permanent: true,
		},
		{
			name: "retries exhausted",
			err:  &SendError{Provider: "smtp", Status: 451, Code: "4.3.0", Attempts: 3, kind: ErrTemporary},
			want: `mail: smtp: status 451 code "4.3.0" (temporary failure after 3 attempts)`,
		},
		{
			name:     "canceled",
			err:      &SendError{Provider: "brevo", Attempts: 1, kind: ErrTemporary, cause: context.Canceled},
			want:     `mail: brevo: context canceled (temporary failure after 1 attempt)`,
			canceled: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := errors.Is(tt.err, ErrPermanent); got != tt.permanent {
				t.Errorf("errors.Is(ErrPermanent) = %v, want %v", got, tt.permanent)
			}
			if got := errors.Is(tt.err, ErrTemporary); got == tt.permanent {
				t.Errorf("errors.Is(ErrTemporary) = %v, want %v", got, !tt.permanent)
			}
			if got := errors.Is(tt.err, context.Canceled); got != tt.canceled {
				t.Errorf("errors.Is(context.Canceled) = %v, want %v", got, tt.canceled)
			}
		})
	}
}
