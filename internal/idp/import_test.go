package idp

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/store"
)

// importedPassword and importedHashes are the independently made vectors of
// internal/password/password_test.go (importVectors; the commands that made them are there):
// Python's hashlib for Werkzeug pbkdf2 and scrypt, libxcrypt (perl crypt) for bcrypt.
const importedPassword = "Flask-imported pässword"

var importedHashes = map[string]string{
	"pbkdf2:sha256": "pbkdf2:sha256:600000$q8Lr2Tn7Vb4Xz9Kw$83129aa46183ac568c9f6e3c8b52f911e7c09ce96b24a9b00c0ca05ddea54efb",
	"pbkdf2:sha512": "pbkdf2:sha512:210000$Hk3Pm8Qs1Wd5Ry0U$8dce05bf1bbc50625b6b254414e4643691f4835c08220600468ae0fd4e1002eecf674ee734977d6daf60afc17332eb2bce8623513f4541f44b1f3bac170bbffe",
	"scrypt":        "scrypt:32768:8:1$Jf6Nc1Vz8Bq3Lx5T$32be64dab8aad3b8a4e71082cc3d628a4fa71b644db3a2a71bfded5f913a26cb31d0d713d82beb20e342c05dae144350cbdd580362ce69d7c0009368149f1fdc",
	"bcrypt $2a$":   "$2a$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
	"bcrypt $2b$":   "$2b$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
	"bcrypt $2y$":   "$2y$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq",
}

// importUser brings one user in the way `idp users import` does (store.ImportUsers).
func importUser(t *testing.T, st store.Store, u store.ImportUser) {
	t.Helper()
	if u.ID == "" {
		u.ID = "imported-" + strings.NewReplacer("@", "-", ".", "-").Replace(u.Email)
	}
	res, err := st.ImportUsers(context.Background(), []store.ImportUser{u}, true, false, time.Now().UTC())
	if err != nil || res[0].Outcome == store.ImportFailed {
		t.Fatalf("import: %v %+v", err, res)
	}
}

// signIn runs authorize → password for email and returns the answer to the password form.
func (h *harness) signIn(t *testing.T, b *http.Client, email, pw string) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, b, h.authorizeURL(nil))
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not at the login page: %s %.200s", resp.Request.URL, body)
	}
	return postForm(t, b, h.ts.URL+"/login", url.Values{"authRequestID": {id}, "email": {email}, "password": {pw}})
}

// TestImportedHashRehashedAtFirstSignIn: for every imported format, the first sign-in with the
// right password succeeds and stores argon2id with the configured parameters; the wrong password
// changes nothing. An argon2id hash weaker than the configured parameters (raised since it was
// made) is replaced the same way.
func TestImportedHashRehashedAtFirstSignIn(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	weak, err := (&password.Hasher{Params: password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}}).Hash(importedPassword)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{"argon2id weaker than configured": weak}
	for name, hash := range importedHashes {
		cases[name] = hash
	}
	for name, hash := range cases {
		t.Run(name, func(t *testing.T) {
			email := "imported-" + strings.NewReplacer("$", "", " ", "-", ":", "-").Replace(name) + "@example.com"
			importUser(t, h.st, store.ImportUser{Email: email, PasswordHash: hash, EmailVerified: true})
			resp, _ := h.signIn(t, newTestBrowser(t), email, "Flask-imported password")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", resp.StatusCode)
			}
			u, err := h.st.GetUserByEmail(context.Background(), email)
			if err != nil || u.PasswordHash != hash {
				t.Fatalf("a wrong password changed the hash (%v)", err)
			}
			resp, body := h.signIn(t, newTestBrowser(t), email, importedPassword)
			if p := rpParams(t, resp); p.Get("code") == "" {
				t.Fatalf("no code for the RP: %d %.300s", resp.StatusCode, body)
			}
			u, err = h.st.GetUserByEmail(context.Background(), email)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("after the first sign-in the hash is %.30s…, want argon2id with the configured parameters", u.PasswordHash)
			}
			if ok, rehash, err := h.srv.hasher.Verify(u.PasswordHash, importedPassword); !ok || rehash || err != nil {
				t.Fatalf("new hash: ok %v rehash %v err %v", ok, rehash, err)
			}
		})
	}
}

// TestImportedUnverifiedMustVerify: an address imported unverified is proven with an email code
// at the first sign-in before any code reaches the relying party.
func TestImportedUnverifiedMustVerify(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	const email = "unverified@example.com"
	importUser(t, h.st, store.ImportUser{Email: email, PasswordHash: importedHashes["bcrypt $2b$"]})
	b := newTestBrowser(t)
	resp, body := h.signIn(t, b, email, importedPassword)
	if resp.Request.URL.Path != verifyPath {
		t.Fatalf("after the password: %s %d %.300s", resp.Request.URL.Path, resp.StatusCode, body)
	}
	resp, _ = postForm(t, b, h.ts.URL+verifyPath, url.Values{"h": {unescape(handlePattern.FindStringSubmatch(body)[1])}, "code": {h.codeFor(t, email)}})
	if p := rpParams(t, resp); p.Get("code") == "" {
		t.Fatalf("no code for the RP after the email code: %d", resp.StatusCode)
	}
	u, err := h.st.GetUserByEmail(context.Background(), email)
	if err != nil || !u.EmailVerified || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("after verifying: verified %v, hash %.12s… (%v)", u != nil && u.EmailVerified, u.PasswordHash, err)
	}
}

var continuePattern = regexp.MustCompile(`id="continue" href="([^"]+)"`)

// TestImportedMFAUserGetsRecoveryCodesAtFirstSignIn: a user imported with two-step on signs in
// with password and SMS code, is shown 10 recovery codes once, and Continue reaches the relying
// party; the next sign-in shows none.
func TestImportedMFAUserGetsRecoveryCodesAtFirstSignIn(t *testing.T) {
	h := newMFAHarness(t, nil)
	importUser(t, h.st, store.ImportUser{Email: flowEmail, PasswordHash: importedHashes["scrypt"], EmailVerified: true,
		MFAEnabled: true, PhoneE164: flowPhone})
	b := newTestBrowser(t)
	resp, body := h.signIn(t, b, flowEmail, importedPassword)
	if resp.Request.URL.Path != "/mfa" {
		t.Fatalf("after the password: %s %d", resp.Request.URL.Path, resp.StatusCode)
	}
	resp, body = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	codes := recoveryPattern.FindAllStringSubmatch(body, -1)
	next := continuePattern.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || len(codes) != 10 || next == nil {
		t.Fatalf("after the SMS code: %d, %d recovery codes: %.400s", resp.StatusCode, len(codes), body)
	}
	u := h.user(t)
	if n, _ := h.st.CountUnusedRecoveryCodes(context.Background(), u.ID); n != 10 {
		t.Errorf("%d recovery codes stored, want 10", n)
	}
	resp, _ = get(t, b, html.UnescapeString(next[1]))
	if p := rpParams(t, resp); p.Get("code") == "" {
		t.Fatalf("Continue did not reach the RP with a code: %d", resp.StatusCode)
	}
	// A shown code works.
	if _, err := h.srv.useRecoveryCode(context.Background(), u.ID, codes[0][1]); err != nil {
		t.Errorf("a shown recovery code does not work: %v", err)
	}

	// The second sign-in: SMS code, then straight to the RP.
	b = newTestBrowser(t)
	resp, body = h.signIn(t, b, flowEmail, importedPassword)
	if resp.Request.URL.Path != "/mfa" {
		t.Fatalf("second sign-in after the password: %s", resp.Request.URL.Path)
	}
	resp, _ = postForm(t, b, h.ts.URL+"/mfa", url.Values{"h": {mfaHandle(t, body)}, "code": {h.vonage.Code(flowPhone)}})
	if p := rpParams(t, resp); p.Get("code") == "" {
		t.Fatalf("second sign-in: no code for the RP: %d", resp.StatusCode)
	}
}
