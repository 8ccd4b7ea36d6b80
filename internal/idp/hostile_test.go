package idp

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, to count rows

	"github.com/fintech-idp/idp/internal/store"
	"github.com/fintech-idp/idp/internal/store/pgtest"
)

// hostileCase is one request an attacker might send.
type hostileCase struct {
	name, method, path string
	ct, body           string // content type and raw body (POST)
	signedIn           bool   // sent from a browser signed in to /account
	header             http.Header
	api                bool // a back-channel endpoint: OAuth JSON error expected, not a page
	// failedAuth: the request carries client credentials that fail, which the client
	// authentication limit counts by design; only the counters may change.
	failedAuth bool
}

// Hostile values, each of which must be refused wherever it is sent.
var (
	hostileEmails = map[string]string{
		"NUL in email":              "ada\x00@example.com",
		"invalid UTF-8 in email":    "ada\xff\xfe@example.com",
		"RTL override in email":     "\u202eada@example.com",
		"zero-width space in email": "a\u200bda@example.com",
		"zero-width joiner domain":  "ada@exa\u200dmple.com",
		"BOM in email":              "\ufeffada@example.com",
		"line separator in email":   "ada\u2028@example.com",
		"CRLF header injection":     "ada@example.com\r\nBcc: eve@evil.example",
		"LF header injection":       "ada@example.com\nSubject: hi",
		"SQL in email":              "ada@example.com' OR '1'='1",
		"SQL comment in email":      "x@x.co'; DROP TABLE users; --",
		"HTML in email":             "<script>alert(1)</script>@example.com",
		"over-long email":           strings.Repeat("a", 10_000) + "@example.com",
		"two at signs":              "ada@evil.example@example.com",
	}
	hostileFields = map[string]func(field string) (ct, body string){
		"NUL in a field": func(f string) (string, string) {
			return formCT, f + "=%00x&other=1"
		},
		"invalid UTF-8 in a field": func(f string) (string, string) {
			return formCT, f + "=%FF%FEx"
		},
		"escape sequence in a field": func(f string) (string, string) {
			return formCT, f + "=%1B%5B2J"
		},
		"repeated field": func(f string) (string, string) {
			return formCT, f + "=a&" + f + "=b"
		},
		"body over 64 KiB": func(f string) (string, string) {
			return formCT, f + "=" + strings.Repeat("A", 70_000)
		},
		"JSON instead of a form": func(f string) (string, string) {
			return "application/json", `{"` + f + `":"x"}`
		},
		"broken multipart": func(f string) (string, string) {
			return "multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"" + f + "\"\r\n\r\nx"
		},
		"SQL in a field": func(f string) (string, string) {
			return formCT, url.Values{f: {"' OR 1=1; DELETE FROM users; --"}}.Encode()
		},
		"HTML in a field": func(f string) (string, string) {
			return formCT, url.Values{f: {`"><script>alert(document.cookie)</script>`}}.Encode()
		},
		"bad percent escape": func(f string) (string, string) {
			return formCT, f + "=%zz%"
		},
	}
)

const formCT = "application/x-www-form-urlencoded"

// hostileCases builds the table: every hostile email at every form that takes one, every hostile
// field at every form (on the field that form reads first), and the protocol endpoints.
func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(c hostileCase) { cs = append(cs, c) }
	form := func(v url.Values) string { return v.Encode() }
	const goodPW = "violet harbor lantern 42"

	for name, e := range hostileEmails {
		add(hostileCase{name: "signup: " + name, method: "POST", path: signupPath, ct: formCT,
			body: form(url.Values{"email": {e}, "password": {goodPW}, "confirm": {goodPW}})})
		add(hostileCase{name: "reset: " + name, method: "POST", path: resetPath, ct: formCT, body: form(url.Values{"email": {e}})})
		add(hostileCase{name: "login: " + name, method: "POST", path: loginPath, ct: formCT,
			body: form(url.Values{"email": {e}, "password": {goodPW}})})
	}
	for name, pw := range map[string]string{
		"NUL in password":        "violet harbor\x00lantern 42",
		"invalid UTF-8 pass":     "violet harbor \xff lantern 42",
		"escape in password":     "violet harbor \x1b[31m lantern",
		"9 KiB password":         strings.Repeat("violet harbor lantern ", 420),
		"common long password":   "Password123456789!",
		"keyboard walk":          "qwertyuiopasdfgh",
		"password and confirm ≠": "",
	} {
		confirm := pw
		if pw == "" {
			pw, confirm = goodPW, goodPW+"!"
		}
		add(hostileCase{name: "signup: " + name, method: "POST", path: signupPath, ct: formCT,
			body: form(url.Values{"email": {"new@example.com"}, "password": {pw}, "confirm": {confirm}})})
	}
	// Every hosted form, on the field it reads first.
	forms := []struct {
		path, field string
		signedIn    bool
	}{
		{signupPath, "email", false}, {loginPath, "email", false}, {resetPath, "email", false},
		{verifyPath, "h", false}, {resendPath, "h", false}, {resetVerifyPath, "h", false},
		{resetResendPath, "h", false}, {resetPasswordPath, "grant", false}, {logoutPath, "lr", false},
		{mfaPath, "h", false}, {mfaResendPath, "h", false}, {mfaCallPath, "h", false}, {mfaRecoveryPath, "h", false},
		{accountPasswordPath, "password", true}, {accountRevokePath, "session", true}, {enrolPath, "phone", true},
	}
	for _, f := range forms {
		for name, mk := range hostileFields {
			ct, body := mk(f.field)
			add(hostileCase{name: f.path + ": " + name, method: "POST", path: f.path, ct: ct, body: body, signedIn: f.signedIn})
		}
	}
	// Codes and handles: forged, over-long, hostile.
	for _, p := range []string{verifyPath, resetVerifyPath, mfaPath} {
		for name, v := range map[string]url.Values{
			"forged handle":     {"h": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "code": {"123456"}},
			"over-long handle":  {"h": {strings.Repeat("A", 5000)}, "code": {"123456"}},
			"code with SQL":     {"h": {"x"}, "code": {"1' OR '1'='1"}},
			"arabic digit code": {"h": {"x"}, "code": {"١٢٣٤٥٦"}},
		} {
			add(hostileCase{name: p + ": " + name, method: "POST", path: p, ct: formCT, body: v.Encode()})
		}
	}
	// Pages read with GET.
	for _, u := range []string{
		verifyPath + "?h=%00", resetVerifyPath + "?h=" + strings.Repeat("A", 5000), mfaPath + "?h=%3Cscript%3E",
		loginPath + "?authRequestID=%27%20OR%201%3D1", loginPath + "?authRequestID=%00",
		logoutPath + "?lr=%FF", "/no-such-page%00", "/login?authRequestID=a&authRequestID=b",
		"/authorize/callback?id=%00", "/authorize/callback?id=%FF%FE", "/authorize/callback?id=x&id=y",
		"/userinfo?x=%00",
	} {
		add(hostileCase{name: "GET " + u, method: "GET", path: u})
	}
	// /authorize and /end_session: unknown clients, unregistered redirect URIs, repeats, NUL.
	authz := url.Values{"client_id": {"web"}, "redirect_uri": {flowRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range authz {
			q[kk] = vv
		}
		q.Set(k, v)
		return q.Encode()
	}
	for name, q := range map[string]string{
		"unknown client":           with("client_id", "nope"),
		"client id with NUL":       with("client_id", "web\x00"),
		"client id with SQL":       with("client_id", "web' OR '1'='1"),
		"javascript redirect":      with("redirect_uri", "javascript:alert(1)"),
		"redirect to another host": with("redirect_uri", "https://evil.example/cb"),
		"redirect with userinfo":   with("redirect_uri", "https://rp.example@evil.example/cb"),
		"redirect with CRLF":       with("redirect_uri", flowRedirect+"\r\nSet-Cookie: x=1"),
		"over-long client id":      with("client_id", strings.Repeat("w", 10_000)),
		"invalid UTF-8 state":      with("state", "\xff\xfe"),
		"repeated client_id":       authz.Encode() + "&client_id=other",
		"repeated redirect_uri":    authz.Encode() + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
	} {
		add(hostileCase{name: "authorize: " + name, method: "GET", path: "/authorize?" + q})
	}
	add(hostileCase{name: "authorize: form post with NUL", method: "POST", path: "/authorize", ct: formCT, body: with("client_id", "web\x00")})
	for name, q := range map[string]string{
		"garbage id_token_hint":    "id_token_hint=" + strings.Repeat("x", 3000),
		"javascript post-logout":   "client_id=web&post_logout_redirect_uri=javascript%3Aalert(1)",
		"unregistered post-logout": "client_id=web&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
		"repeated client_id":       "client_id=web&client_id=other",
		"NUL in post-logout":       "client_id=web&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye%00",
	} {
		add(hostileCase{name: "end_session: " + name, method: "GET", path: "/end_session?" + q})
	}
	// Back-channel endpoints.
	basic := http.Header{"Authorization": {"Basic " + basicAuth("web", "wrong-secret")}}
	for _, p := range []string{"/oauth/token", "/oauth/introspect", "/revoke"} {
		for name, c := range map[string]hostileCase{
			"JSON body":             {ct: "application/json", body: `{"grant_type":"authorization_code","code":"x"}`},
			"no content type":       {ct: "", body: "grant_type=authorization_code&code=x"},
			"multipart":             {ct: "multipart/form-data; boundary=zz", body: "--zz--"},
			"repeated parameter":    {ct: formCT, body: "grant_type=authorization_code&grant_type=refresh_token&code=x&token=x&token=y"},
			"NUL in a parameter":    {ct: formCT, body: "grant_type=authorization_code&code=x%00&token=x%00"},
			"invalid UTF-8":         {ct: formCT, body: "grant_type=authorization_code&code=%FF&token=%FF"},
			"SQL in a parameter":    {ct: formCT, body: url.Values{"grant_type": {"authorization_code"}, "code": {"' OR 1=1 --"}, "token": {"' OR 1=1 --"}}.Encode(), header: basic},
			"HTML in a parameter":   {ct: formCT, body: url.Values{"grant_type": {"<script>"}, "token": {"<script>"}}.Encode(), header: basic},
			"unknown client":        {ct: formCT, body: "grant_type=client_credentials&token=x", header: http.Header{"Authorization": {"Basic " + basicAuth("nope", "x")}}},
			"NUL client id":         {ct: formCT, body: "grant_type=client_credentials&token=x", header: http.Header{"Authorization": {"Basic " + basicAuth("web\x00", "x")}}},
			"invalid UTF-8 client":  {ct: formCT, body: "grant_type=client_credentials&token=x", header: http.Header{"Authorization": {"Basic " + basicAuth("\xff\xfe", "x")}}},
			"escaped NUL client id": {ct: formCT, body: "grant_type=client_credentials&token=x", header: http.Header{"Authorization": {"Basic " + basicAuth("web%00", "x")}}},
			"NUL in form client":    {ct: formCT, body: "grant_type=client_credentials&token=x&client_id=%00&client_secret=x"},
			"body over 64 KiB":      {ct: formCT, body: "grant_type=authorization_code&code=" + strings.Repeat("A", 70_000) + "&token=x"},
			"credentials in query":  {ct: formCT, body: "grant_type=authorization_code&code=x"},
		} {
			c.name, c.method, c.path, c.api = p+": "+name, "POST", p, true
			c.failedAuth = c.header != nil
			if name == "credentials in query" {
				c.path += "?client_secret=dev-secret"
			}
			add(c)
		}
	}
	for name, hd := range map[string]string{
		"garbage bearer":    "Bearer " + strings.Repeat("x", 5000),
		"SQL bearer":        "Bearer ' OR 1=1 --",
		"non-UTF-8 bearer":  "Bearer \xff\xfe",
		"basic to userinfo": "Basic " + basicAuth("web", "x"),
	} {
		add(hostileCase{name: "userinfo: " + name, method: "GET", path: "/userinfo", header: http.Header{"Authorization": {hd}}, api: true})
	}
	add(hostileCase{name: "userinfo: token in query", method: "GET", path: "/userinfo?access_token=x", api: true})
	return cs
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// rawLeaks are fragments of Go, driver and library error texts that must never reach a response.
var rawLeaks = []string{"runtime error", "goroutine ", "panic:", "sql: ", "SQLSTATE", "SQLITE_", "pgx:", "constraint failed",
	"invalid UTF-8", "unexpected EOF", "http: request body too large", "illegal base64", "json: cannot", "strconv.",
	"mime: ", "multipart: ", "invalid URL escape", "<script>alert"}

// TestHostileInput sends every request of hostileCases and checks that each gets a 4xx with a
// fixed reason (a rendered page, or OAuth JSON with a description) and never a 5xx or a raw
// error text, and that no table of the database changed.
func TestHostileInput(t *testing.T) {
	h := newMFAHarness(t, nil)
	db, err := sql.Open("sqlite", filepath.Join(h.dir, store.SQLiteFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runHostile(t, h, func(t *testing.T) map[string]string {
		return snapshot(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
			`SELECT group_concat(id || email || password_hash || email_verified || disabled, '|') FROM users`)
	})
}

// TestHostileInputPostgres is TestHostileInput on PostgreSQL, which refuses NUL and invalid
// UTF-8 in text where SQLite stores them: nothing hostile may reach a query.
func TestHostileInputPostgres(t *testing.T) {
	dbURL := pgtest.FreshSchema(t)
	h := newMFAHarnessOn(t, dbURL, nil)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runHostile(t, h, func(t *testing.T) map[string]string {
		return snapshot(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
			`SELECT coalesce(string_agg(id || email || password_hash || email_verified::text || disabled::text, '|' ORDER BY id), '') FROM users`)
	})
}

func runHostile(t *testing.T, h *mfaHarness, snap func(t *testing.T) map[string]string) {
	signedIn := h.accountBrowser(t)
	cases := hostileCases()
	if len(cases) < 100 {
		t.Fatalf("only %d hostile inputs", len(cases))
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	before := snap(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestBrowser(t)
			if c.signedIn {
				b = signedIn
			}
			b.CheckRedirect = noRedirect
			req, err := http.NewRequest(c.method, h.ts.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				// Not even a request Go can send (a raw NUL in the path): nothing to test.
				t.Skipf("unsendable: %v", err)
			}
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := b.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkRefusal(t, c, resp, string(body))
			after := snap(t)
			if c.failedAuth {
				before["counters"] = after["counters"]
			}
			if diff := diffSnapshots(before, after); diff != "" {
				t.Errorf("the store changed: %s", diff)
				before = after
			}
		})
	}
	if strings.Contains(h.logs.String(), "panic") {
		t.Error("a handler panicked")
	}
}

func checkRefusal(t *testing.T, c hostileCase, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Fatalf("status %d, want 4xx: %.300s", resp.StatusCode, body)
	}
	for _, leak := range rawLeaks {
		if strings.Contains(body, leak) {
			t.Errorf("the answer shows %q: %.300s", leak, body)
		}
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("JSON answer without an OAuth error: %.300s", body)
		}
		if e.Description == "" && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("JSON error %q without a description", e.Error)
		}
	case strings.HasPrefix(ct, "text/html"):
		if c.api {
			t.Errorf("a page from a back-channel endpoint: %.200s", body)
		}
		if !strings.Contains(body, "<main") && !strings.Contains(body, "<h1") {
			t.Errorf("not one of our pages: %.300s", body)
		}
	default:
		if resp.StatusCode != http.StatusUnauthorized || body != "" {
			t.Errorf("Content-Type %q: %.300s", ct, body)
		}
	}
}

// snapshot returns the row count of every table (named by tablesQuery) and a digest of the users
// table (usersQuery).
func snapshot(t *testing.T, db *sql.DB, tablesQuery, usersQuery string) map[string]string {
	t.Helper()
	rows, err := db.Query(tablesQuery)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	snap := map[string]string{}
	for _, tb := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + tb + `"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		snap[tb] = fmt.Sprint(n)
	}
	var digest string
	if err := db.QueryRow(usersQuery).Scan(&digest); err != nil {
		t.Fatal(err)
	}
	snap["users (content)"] = digest
	return snap
}

func diffSnapshots(a, b map[string]string) string {
	var d []string
	for k, v := range b {
		if a[k] != v {
			d = append(d, fmt.Sprintf("%s %q → %q", k, a[k], v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}
