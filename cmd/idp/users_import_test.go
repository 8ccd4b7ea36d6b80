package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Hashes of "Flask-imported pässword" made outside Go (the commands are in
// internal/password/password_test.go, importVectors): Python hashlib and libxcrypt bcrypt.
const (
	cliPBKDF2 = "pbkdf2:sha256:600000$q8Lr2Tn7Vb4Xz9Kw$83129aa46183ac568c9f6e3c8b52f911e7c09ce96b24a9b00c0ca05ddea54efb"
	cliBcrypt = "$2b$06$Zy9Ox3Kq1Lm5Nb7Vc2Xd4e4YxuU0gbkoBsSTqZIH2RH53zQ2sJGGq"
	cliScrypt = "scrypt:32768:8:1$Jf6Nc1Vz8Bq3Lx5T$32be64dab8aad3b8a4e71082cc3d628a4fa71b644db3a2a71bfded5f913a26cb31d0d713d82beb20e342c05dae144350cbdd580362ce69d7c0009368149f1fdc"
)

// importCSV is a Flask users table as `psql \copy … CSV HEADER` writes it (t/f booleans,
// timestamps without a zone), with the source app's own column names.
var importCSV = strings.Join([]string{
	"id,email,password_hash,is_verified,phone_number,mfa_enabled,created_at",    // line 1
	"1, Ada@Example.COM ," + cliPBKDF2 + ",t,,f,2023-01-02 03:04:05.123456",     // 2: created
	"2,bob@example.com," + cliBcrypt + ",f,+447400123456,t,2023-02-03 04:05:06", // 3: created, two-step, unverified
	"3,carol@example.com,scrypt:2097152:8:1$salt$abab,t,,f,",                    // 4: scrypt N above 2^20
	"4,dave@example.com," + cliScrypt + ",t,+4915112345678,t,",                  // 5: phone in DE, only GB allowed
	"5,erin@example.com," + cliScrypt + ",t,,f,",                                // 6: twice…
	"6,ERIN@example.com," + cliPBKDF2 + ",t,,f,",                                // 7: …neither imported
	"7,frank@example.com," + cliScrypt + ",maybe,,f,",                           // 8: not a boolean
	"8,grace@example.com,plaintext-password,t,,f,",                              // 9: not a hash
	"9,heidi@example.com," + cliScrypt + ",t,,t,",                               // 10: two-step without a phone
	"10,ivan@example.com," + cliScrypt + ",t,07400 123457,f,",                   // 11: created, phone not kept
}, "\n") + "\n"

var wantRejected = []string{
	"line 4: rejected: password_hash: werkzeug: scrypt parameter not a number or above the limit",
	"line 5: rejected: phone: its country is not in VONAGE_ALLOWED_COUNTRIES: DE",
	"line 6: rejected: email: the same address is on lines 6, 7; none of them is imported",
	"line 7: rejected: email: the same address is on lines 6, 7; none of them is imported",
	"line 8: rejected: email_verified: not true or false",
	"line 9: rejected: password_hash: unknown algorithm",
	"line 10: rejected: phone: missing, and mfa_enabled is true (two-step needs the number)",
}

// squeeze turns every run of spaces in the lines of s into one space.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecrets fails when a hash or a phone number of the input reached the output.
func noSecrets(t *testing.T, outs ...string) {
	t.Helper()
	for _, out := range outs {
		for _, s := range []string{"q8Lr2Tn7Vb4Xz9Kw", "Zy9Ox3Kq1Lm5Nb7Vc2Xd4e", "Jf6Nc1Vz8Bq3Lx5T", "plaintext-password", "7400123456", "15112345678", "7400 123457"} {
			if strings.Contains(out, s) {
				t.Errorf("output holds %q:\n%s", s, out)
			}
		}
	}
}

// TestUsersImport: CSV with --map; every bad line is reported with its number and reason and
// the exit status says so; the good lines are in; a re-run changes nothing; --update writes a
// changed line; each run leaves an audit event with counts only.
func TestUsersImport(t *testing.T) {
	env := cliEnv(t, nil) // development: VONAGE_ALLOWED_COUNTRIES defaults to GB
	file := writeFile(t, "users.csv", importCSV)
	mapping := "email_verified=is_verified,phone=phone_number"

	out, errOut, err := runCLI(t, env, "", "users", "import", file, "--map", mapping)
	var u usageError
	if err == nil || errors.As(err, &u) || !strings.Contains(err.Error(), "7 of 10 lines rejected") {
		t.Fatalf("want a (non-usage) error naming 7 of 10 rejected lines, got %v\n%s", err, out)
	}
	for _, w := range wantRejected {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(out, "10 lines: 3 created, 0 updated, 0 unchanged, 7 rejected") {
		t.Errorf("counts:\n%s", out)
	}
	noSecrets(t, out, errOut, err.Error())

	list, _, err := runCLI(t, env, "", "users", "list")
	if err != nil {
		t.Fatal(err)
	}
	list = squeeze(list)
	for _, w := range []string{"ada@example.com true false", "bob@example.com false true", "ivan@example.com true false"} {
		if !strings.Contains(list, w) {
			t.Errorf("users list lacks %q:\n%s", w, list)
		}
	}
	if strings.Count(list, "\n") != 4 || !strings.Contains(list, "2023-01-02T03:04:05Z") {
		t.Errorf("users list:\n%s", list)
	}

	// The same file again: nothing changes, the same lines are rejected.
	out, _, err = runCLI(t, env, "", "users", "import", "--map", mapping, file)
	if err == nil || !strings.Contains(out, "10 lines: 0 created, 0 updated, 3 unchanged, 7 rejected") {
		t.Fatalf("re-run: %v\n%s", err, out)
	}

	// A file with only good lines, one of them changed: unchanged without --update (and said
	// so), updated with it; the exit status is 0.
	good := strings.Join([]string{
		"email,password_hash,email_verified",
		"ada@example.com," + cliBcrypt + ",true",
		"bob@example.com," + cliBcrypt + ",false",
	}, "\n")
	goodFile := writeFile(t, "good.csv", good)
	out, _, err = runCLI(t, env, "", "users", "import", goodFile)
	if err != nil || !strings.Contains(out, "2 lines: 0 created, 0 updated, 2 unchanged, 0 rejected") ||
		!strings.Contains(out, "2 of the unchanged already exist with other values; --update writes the file's values") {
		t.Fatalf("without --update: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, env, "", "users", "import", goodFile, "--update")
	if err != nil || !strings.Contains(out, "2 lines: 0 created, 2 updated, 0 unchanged, 0 rejected") {
		t.Fatalf("with --update: %v\n%s", err, out)
	}
	list, _, _ = runCLI(t, env, "", "users", "list")
	if !strings.Contains(squeeze(list), "bob@example.com false false") {
		t.Errorf("bob's two-step should be off after the update:\n%s", list)
	}

	audit, _, err := runCLI(t, env, "", "audit", "search", "--type", "users.imported", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(audit, `"users.imported"`); n != 4 {
		t.Errorf("%d users.imported events, want 4:\n%s", n, audit)
	}
	for _, w := range []string{`"created":"3"`, `"rejected":"7"`, `"updated":"2"`, `"lines":"10"`} {
		if !strings.Contains(audit, w) {
			t.Errorf("audit lacks %s:\n%s", w, audit)
		}
	}
	noSecrets(t, audit)
}

// TestUsersImportDryRun: the report of a dry run is the import's, and nothing is written (no
// user, no audit event).
func TestUsersImportDryRun(t *testing.T) {
	env := cliEnv(t, nil)
	file := writeFile(t, "users.csv", importCSV)
	out, _, err := runCLI(t, env, "", "users", "import", file, "--dry-run", "--map", "email_verified=is_verified,phone=phone_number")
	if err == nil || !strings.Contains(out, "10 lines: 3 created, 0 updated, 0 unchanged, 7 rejected (dry run: nothing written") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	list, _, _ := runCLI(t, env, "", "users", "list")
	if strings.Count(list, "\n") != 1 {
		t.Errorf("a dry run wrote users:\n%s", list)
	}
	audit, _, _ := runCLI(t, env, "", "audit", "search", "--type", "users.imported", "--json")
	if strings.Contains(audit, "users.imported") {
		t.Errorf("a dry run wrote an audit event:\n%s", audit)
	}
}

// TestUsersImportJSONLinesFromStdin: "-" reads standard input; JSON booleans, numbers and null
// are read; the allowed countries come from VONAGE_ALLOWED_COUNTRIES.
func TestUsersImportJSONLinesFromStdin(t *testing.T) {
	env := cliEnv(t, map[string]string{"VONAGE_ALLOWED_COUNTRIES": "GB,DE"})
	in := strings.Join([]string{
		`{"email":"ada@example.com","password_hash":"` + cliPBKDF2 + `","verified":true,"mfa_enabled":false,"created_at":"2023-01-02T03:04:05Z"}`,
		``,
		`{"email":"dave@example.com","password_hash":"` + cliScrypt + `","verified":1,"phone":"+4915112345678","mfa_enabled":true,"created_at":null}`,
		`not json`,
	}, "\n")
	out, _, err := runCLI(t, env, in, "users", "import", "--format", "jsonl", "--map", "email_verified=verified", "-")
	if err == nil || !strings.Contains(out, "line 4: rejected: not a JSON object on one line") ||
		!strings.Contains(out, "3 lines: 2 created, 0 updated, 0 unchanged, 1 rejected") {
		t.Fatalf("jsonl: %v\n%s", err, out)
	}
	list, _, _ := runCLI(t, env, "", "users", "list")
	if !strings.Contains(squeeze(list), "dave@example.com true true") {
		t.Errorf("users list:\n%s", list)
	}
	noSecrets(t, out, list)
}

func TestUsersImportBadInvocation(t *testing.T) {
	csvFile := writeFile(t, "u.csv", "mail,password_hash,email_verified\n")
	txtFile := writeFile(t, "u.txt", "")
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no file", []string{"users", "import"}, true, "name the file"},
		{"stdin without format", []string{"users", "import", "-"}, true, "say --format csv or --format jsonl"},
		{"unknown extension", []string{"users", "import", txtFile}, true, "say --format csv or --format jsonl"},
		{"bad format", []string{"users", "import", txtFile, "--format", "xml"}, true, "--format must be csv or jsonl"},
		{"map to an unknown column", []string{"users", "import", csvFile, "--map", "mail=email"}, true, `"mail" is not one of email, password_hash`},
		{"map without =", []string{"users", "import", csvFile, "--map", "email"}, true, "want column=source_column"},
		{"two files", []string{"users", "import", csvFile, "--update", txtFile}, true, "one FILE"},
		{"missing file", []string{"users", "import", "/nonexistent/users.csv"}, false, "no such file"},
		{"header without a required column", []string{"users", "import", csvFile}, false, `the CSV header has no column "email" (for email; rename with --map email=COLUMN)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := cliEnv(t, nil)
			_, _, err := runCLI(t, env, "", tc.args...)
			var u usageError
			if err == nil || errors.As(err, &u) != tc.usage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (usage %v), want %q (usage %v)", err, errors.As(err, &u), tc.want, tc.usage)
			}
		})
	}
}

// TestUsersImportWarnsWithoutSMS: two-step users imported where no SMS can be sent (production
// without Vonage) could not sign in; the command says so.
func TestUsersImportWarnsWithoutSMS(t *testing.T) {
	env := cliEnv(t, map[string]string{"IDP_ENV": "production", "ISSUER": "https://id.example.com",
		"SECRET_KEY": strings.Repeat("s", 40), "BREVO_API_KEY": "x", "SENDER_EMAIL": "id@example.com"})
	file := writeFile(t, "u.csv", "email,password_hash,email_verified,phone,mfa_enabled\nbob@example.com,"+cliBcrypt+",t,+447400123456,t\n")
	out, errOut, err := runCLI(t, env, "", "users", "import", file)
	if err != nil || !strings.Contains(out, "1 created") {
		t.Fatalf("import: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "warning: 1 imported users have two-step on, but without VONAGE_API_KEY/VONAGE_API_SECRET") {
		t.Errorf("no warning:\n%s", errOut)
	}
	noSecrets(t, out, errOut)
}
