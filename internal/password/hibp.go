package password

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// BreachChecker answers whether a password appears in known data breaches. Policy.Check asks it
// last, only about a password every offline rule accepted.
type BreachChecker interface {
	// Breached reports whether the NFKC-normalised password appears in known breaches. An error
	// means the answer is unknown (network, timeout, unexpected answer); Policy.Check then
	// refuses the password for now (fail closed, see SECURITY.md).
	Breached(ctx context.Context, normalised string) (bool, error)
}

// Defaults of HIBP.
const (
	// HIBPDefaultURL is the Pwned Passwords API of Have I Been Pwned.
	HIBPDefaultURL = "https://api.pwnedpasswords.com"
	// HIBPTimeout bounds one range request. The API is served from Cloudflare's cache and usually
	// answers within 100 ms; a person waits at most this long before being asked to try again.
	HIBPTimeout = 2 * time.Second
	// maxRangeBody bounds the answer read: a padded range holds 800 to 1,000 lines of 40 bytes or
	// so, about 40 KiB.
	maxRangeBody = 1 << 20
)

// HIBP checks passwords against the Pwned Passwords range API of Have I Been Pwned with
// k-anonymity (https://haveibeenpwned.com/API/v3#PwnedPasswords): only the first 5 hexadecimal
// characters of the password's SHA-1 leave the server, the API answers with every breached hash
// suffix under that prefix, and the comparison is made here. "Add-Padding: true" makes the API pad
// each answer with random suffixes of count 0 (ignored here), so that the size of the answer does
// not reveal the prefix to someone watching the encrypted traffic.
type HIBP struct {
	// BaseURL is the API root without the trailing slash; empty means HIBPDefaultURL.
	BaseURL string
	// Client sends the requests; nil means a client with HIBPTimeout as its timeout.
	Client *http.Client
	// Timeout bounds one check; 0 means HIBPTimeout.
	Timeout time.Duration
	// UserAgent names this service to the API (it asks callers to send one).
	UserAgent string
}

var _ BreachChecker = (*HIBP)(nil)

var defaultHIBPClient = &http.Client{Timeout: HIBPTimeout}

// Errors of HIBP.Breached, wrapped with the detail; errors.Is tells them apart.
var (
	ErrBreachCheckStatus = errors.New("password: breach check: unexpected answer from the API")
	ErrBreachCheckBody   = errors.New("password: breach check: malformed range answer")
)

// Breached implements BreachChecker. A status other than 200, a body that is not the documented
// "SUFFIX:COUNT" lines, a network error or the timeout is an error.
func (h *HIBP) Breached(ctx context.Context, normalised string) (bool, error) {
	sum := sha1.Sum([]byte(normalised))
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:5], digest[5:]

	timeout := h.Timeout
	if timeout <= 0 {
		timeout = HIBPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	base := strings.TrimRight(h.BaseURL, "/")
	if base == "" {
		base = HIBPDefaultURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/range/"+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("password: breach check: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	if h.UserAgent != "" {
		req.Header.Set("User-Agent", h.UserAgent)
	}
	client := h.Client
	if client == nil {
		client = defaultHIBPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("password: breach check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRangeBody))
		return false, fmt.Errorf("%w: HTTP %d", ErrBreachCheckStatus, resp.StatusCode)
	}
	return scanRange(io.LimitReader(resp.Body, maxRangeBody), suffix)
}

// scanRange reads a range answer, lines of "SUFFIX:COUNT" (35 upper-case hexadecimal characters,
// a colon, a decimal count; CRLF or LF), and reports whether suffix is there with a count above 0
// (padding lines have count 0). Every line is checked, so a truncated or foreign body is an error
// rather than a silent "not breached".
func scanRange(body io.Reader, suffix string) (bool, error) {
	sc := bufio.NewScanner(body)
	found, lines := false, 0
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		lines++
		s, c, ok := strings.Cut(line, ":")
		if !ok || len(s) != 35 || !isUpperHex(s) {
			return false, fmt.Errorf("%w: line %d", ErrBreachCheckBody, lines)
		}
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return false, fmt.Errorf("%w: line %d", ErrBreachCheckBody, lines)
		}
		if s == suffix && n > 0 {
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("password: breach check: reading the answer: %w", err)
	}
	if lines == 0 {
		// Every prefix has hundreds of suffixes, and padding adds more: an empty answer is not one.
		return false, fmt.Errorf("%w: empty", ErrBreachCheckBody)
	}
	return found, nil
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
