package idp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// signer makes small tamper-proof values for URLs (HMAC-SHA256 with a key derived from
// SECRET_KEY), e.g. the logout request handed from end_session to our logout page.
type signer struct {
	key []byte
	now func() time.Time
}

var errBadSignature = errors.New("invalid or expired signed value")

func (s signer) sign(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// open verifies and decodes into v, which must have an Expires unix time (see expiring).
func (s signer) open(token string, v expiring) error {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 8192 {
		return errBadSignature
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return errBadSignature
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	if !hmac.Equal(got, m.Sum(nil)) {
		return errBadSignature
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, v) != nil {
		return errBadSignature
	}
	if s.now().Unix() > v.expiresAt() {
		return errBadSignature
	}
	return nil
}

type expiring interface{ expiresAt() int64 }

// logoutRequest is what end_session validated, carried to /logout.
type logoutRequest struct {
	RedirectURI string `json:"r"`
	Subject     string `json:"s,omitempty"`
	ClientID    string `json:"c,omitempty"`
	Hinted      bool   `json:"h,omitempty"` // an id_token_hint was presented and verified
	Expires     int64  `json:"e"`
}

func (l *logoutRequest) expiresAt() int64 { return l.Expires }
