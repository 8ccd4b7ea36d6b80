package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// TestImportedUserSignsInAndIsRehashed: through the real server on both stores, a user brought
// in by `idp users import` with a Werkzeug pbkdf2 hash (made by Python's hashlib, see
// internal/password/password_test.go) signs in with go-oidc as the relying party, the stored
// hash becomes argon2id, the next sign-in works with it, and neither the hash nor its salt
// reaches the server's log.
func TestImportedUserSignsInAndIsRehashed(t *testing.T) {
	for name, dbURL := range storeEnvs(t) {
		t.Run(name, func(t *testing.T) {
			f := setupFlow(t, dbURL(t))
			file := filepath.Join(t.TempDir(), "users.jsonl")
			line := `{"email":"Flask.User@Example.com","password_hash":"` + cliPBKDF2 + `","is_verified":"t","created_at":"2022-03-04 05:06:07"}` + "\n"
			if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			out := f.idp.cli(t, "", "users", "import", file, "--map", "email_verified=is_verified")
			if !strings.Contains(out, "1 lines: 1 created, 0 updated, 0 unchanged, 0 rejected") {
				t.Fatalf("import: %s", out)
			}
			f.email, f.password = "flask.user@example.com", "Flask-imported pässword"
			f.keep(f.password)

			_, idt, _ := f.login(t, newBrowser(t))
			var claims struct {
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
			}
			if err := idt.Claims(&claims); err != nil || claims.Email != f.email || !claims.EmailVerified {
				t.Fatalf("ID token claims %+v (%v)", claims, err)
			}

			st, err := store.Open(context.Background(), f.idp.env["DATABASE_URL"], f.idp.env["IDP_DATA_DIR"])
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, err := st.GetUserByEmail(context.Background(), f.email)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("after the first sign-in the stored hash is %.20s…, want argon2id", u.PasswordHash)
			}
			// The argon2id hash works for the next sign-in.
			f.login(t, newBrowser(t))

			log := f.idp.stderr.String()
			for _, s := range []string{"q8Lr2Tn7Vb4Xz9Kw", "83129aa46183ac56", f.password} {
				if strings.Contains(log, s) {
					t.Errorf("the server log holds %q", s)
				}
			}
		})
	}
}
