package userimport

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// A Werkzeug pbkdf2 hash (made by Python's hashlib.pbkdf2_hmac; see
// internal/password/password_test.go, importVectors). The import only checks it.
const pbkdf2Hash = "pbkdf2:sha256:600000$q8Lr2Tn7Vb4Xz9Kw$83129aa46183ac568c9f6e3c8b52f911e7c09ce96b24a9b00c0ca05ddea54efb"

func openSQLite(t testing.TB) store.Store {
	t.Helper()
	dir := t.TempDir()
	if err := store.Migrate(context.Background(), "", dir, "up"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t testing.TB) store.Store {
	t.Helper()
	dbURL := pgtest.FreshSchema(t)
	if err := store.Migrate(context.Background(), dbURL, "", "up"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbURL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestParseMap(t *testing.T) {
	m := map[string]string{}
	if err := ParseMap("email_verified=is_verified, phone=phone_number,", m); err != nil || m["email_verified"] != "is_verified" || m["phone"] != "phone_number" {
		t.Fatalf("ParseMap = %v, %v", m, err)
	}
	for _, bad := range []string{"email_verified=x", "nope=x", "email", "=x", "email="} {
		if err := ParseMap(bad, m); err == nil {
			t.Errorf("ParseMap(%q) accepted", bad)
		}
	}
}

func TestReadValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
		ok   bool
	}{{"t", true, true}, {"TRUE", true, true}, {"1", true, true}, {"f", false, true}, {"", false, true}, {"no", false, true}, {"maybe", false, false}} {
		if got, ok := parseBool(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("parseBool(%q) = %v, %v", tc.in, got, ok)
		}
	}
	want := time.Date(2023, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for _, in := range []string{"2023-01-02 03:04:05.123456", "2023-01-02 03:04:05.123456+00", "2023-01-02T04:04:05.123456+01:00", "2023-01-02T03:04:05.123456Z"} {
		if got, ok := parseTime(in); !ok || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v", in, got, ok)
		}
	}
	if _, ok := parseTime("02/01/2023"); ok {
		t.Error("parseTime accepted 02/01/2023")
	}
}

// TestRunCSVShapes: a BOM, quoted fields, columns in any order, extra columns ignored, and a line
// with the wrong number of fields rejected alone.
func TestRunCSVShapes(t *testing.T) {
	st := openSQLite(t)
	in := "\ufeffcreated_at,ignored,email,password_hash,email_verified\n" +
		`"2020-05-06 07:08:09",x,"a@example.com","` + pbkdf2Hash + `",t` + "\n" +
		"2020-05-06,x,b@example.com\n"
	rep, err := Run(context.Background(), st, strings.NewReader(in), Options{Format: FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 2 || rep.Created != 1 || len(rep.Rejected) != 1 || rep.Rejected[0] != (Rejected{3, "has 3 fields, the header 5"}) {
		t.Fatalf("report %+v", rep)
	}
	u, err := st.GetUserByEmail(context.Background(), "a@example.com")
	if err != nil || !u.CreatedAt.Equal(time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)) || u.PasswordHash != pbkdf2Hash || !u.EmailVerified {
		t.Fatalf("user %+v (%v)", u, err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var importUsers = flag.Int("import.users", 0, "TestImportRate: import this many users into SQLite and PostgreSQL and print the rate (0: skip)")

// TestImportRate measures `idp users import` (this package's Run, CSV, batches of 1000) on both
// stores: go test ./internal/userimport -run TestImportRate -import.users 100000 -v
// It asserts nothing about speed (the machine may be busy); it checks every user arrived.
func TestImportRate(t *testing.T) {
	if *importUsers <= 0 {
		t.Skip("set -import.users N to measure")
	}
	var b strings.Builder
	b.WriteString("email,password_hash,email_verified,phone,mfa_enabled,created_at\n")
	for i := range *importUsers {
		mfa, phone := "f", ""
		if i%10 == 0 {
			mfa, phone = "t", fmt.Sprintf("+4474%08d", i%100000000)
		}
		fmt.Fprintf(&b, "user%d@example.com,%s,t,%s,%s,2023-01-02 03:04:05\n", i, pbkdf2Hash, phone, mfa)
	}
	data := b.String()
	for _, tc := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.open(t)
			cpu0 := cpuTime()
			start := time.Now()
			rep, err := Run(context.Background(), st, strings.NewReader(data), Options{Format: FormatCSV, DefaultRegion: "GB"})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Created != *importUsers || len(rep.Rejected) != 0 {
				t.Fatalf("created %d of %d, rejected %v", rep.Created, *importUsers, rep.Rejected[:min(5, len(rep.Rejected))])
			}
			// The CPU time of this process (the database server's is not in it for PostgreSQL)
			// tells what the wall time means on a busy machine.
			t.Logf("%s: %d users imported in %s: %.0f users/s (this process used %s of CPU)", tc.name, rep.Created,
				took.Round(time.Millisecond), float64(rep.Created)/took.Seconds(), (cpuTime() - cpu0).Round(time.Millisecond))
			start = time.Now()
			rep, err = Run(context.Background(), st, strings.NewReader(data), Options{Format: FormatCSV, DefaultRegion: "GB"})
			if err != nil || rep.Unchanged != *importUsers {
				t.Fatalf("re-run: %+v %v", rep.Unchanged, err)
			}
			t.Logf("%s: re-run (all unchanged) in %s", tc.name, time.Since(start).Round(time.Millisecond))
		})
	}
}
