package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// oauthAnswer is a decoded OAuth error (or success) answer.
type oauthAnswer struct {
	Status      int
	Error       string `json:"error"`
	Description string `json:"error_description"`
	AccessToken string `json:"access_token"`
	Header      http.Header
}

func doOAuth(t *testing.T, req *http.Request) oauthAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a oauthAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	a.Status, a.Header = resp.StatusCode, resp.Header
	return a
}

// TestBackChannelOnlyPOSTWithFormBody: the token, introspection and revocation endpoints take
// POST with a form body only; credentials or tokens in the URL are refused (RFC 6749 §2.3.1 and
// §3.2: they end up in access logs and browser history), and so is a Bearer token in the
// userinfo query string (RFC 6750 §2.3 is optional; RFC 9700 §4.3.2 advises against it).
func TestBackChannelOnlyPOSTWithFormBody(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, secret, err := h.admin.CreateClient(ctx, ClientSpec{ID: "svc", Type: store.ClientService})
	if err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}}
	form := func(method, path, query string, body url.Values, ctype string) *http.Request {
		u := h.ts.URL + path
		if query != "" {
			u += "?" + query
		}
		req, _ := http.NewRequest(method, u, strings.NewReader(body.Encode()))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return req
	}
	const formType = "application/x-www-form-urlencoded"
	cases := []struct {
		name   string
		req    *http.Request
		basic  bool
		status int
	}{
		{"GET token with the secret in the query", form(http.MethodGet, "/oauth/token", cc.Encode(), nil, ""), false, 405},
		{"POST token with the secret in the query", form(http.MethodPost, "/oauth/token", cc.Encode(), nil, formType), false, 400},
		{"POST token with the grant in the query", form(http.MethodPost, "/oauth/token", "grant_type=client_credentials", nil, formType), true, 400},
		{"POST token with a JSON body", form(http.MethodPost, "/oauth/token", "", cc, "application/json"), false, 400},
		{"POST token without a content type", form(http.MethodPost, "/oauth/token", "", cc, ""), false, 400},
		{"GET introspection with the token in the query", form(http.MethodGet, "/oauth/introspect", "token=x", nil, ""), true, 405},
		{"POST introspection with the token in the query", form(http.MethodPost, "/oauth/introspect", "token=x", nil, formType), true, 400},
		{"GET revocation", form(http.MethodGet, "/revoke", "token=x", nil, ""), true, 405},
		{"POST revocation with the token in the query", form(http.MethodPost, "/revoke", "token=x", nil, formType), true, 400},
		{"userinfo with access_token in the query", form(http.MethodGet, "/userinfo", "access_token=x", nil, ""), false, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.basic {
				tc.req.SetBasicAuth("svc", secret)
			}
			a := doOAuth(t, tc.req)
			if a.Status != tc.status || a.Error != "invalid_request" || a.Description == "" || a.AccessToken != "" {
				t.Errorf("got %d %q (%s) token=%t, want %d invalid_request", a.Status, a.Error, a.Description, a.AccessToken != "", tc.status)
			}
			if tc.status == 405 && a.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", a.Header.Get("Allow"))
			}
		})
	}
	// The same request done properly works.
	ok := form(http.MethodPost, "/oauth/token", "", url.Values{"grant_type": {"client_credentials"}}, formType+"; charset=utf-8")
	ok.SetBasicAuth("svc", secret)
	if a := doOAuth(t, ok); a.Status != 200 || a.AccessToken == "" {
		t.Errorf("a proper POST got %d %q (%s)", a.Status, a.Error, a.Description)
	}
}
