package idp

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/text/language"

	"github.com/fintech-idp/idp/internal/i18n"
	"github.com/fintech-idp/idp/ui"
)

// langCookieAge: the chosen language is remembered for a year.
const langCookieAge = 365 * 24 * time.Hour

// langParam is the query parameter of the language switch on every page.
const langParam = "lang"

// language picks the request's language and puts it in the context: the page's switch (?lang=),
// then OIDC's ui_locales on /authorize (OpenID Connect Core §3.1.2.1), both remembered in a
// cookie, then the cookie, then Accept-Language, then English.
func (s *Server) language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lang, chosen := i18n.Parse(q.Get(langParam))
		if !chosen && r.URL.Path == "/authorize" {
			lang, chosen = i18n.FromUILocales(q.Get("ui_locales"))
		}
		if chosen {
			if cookieValue(r, s.cookies.lang) != string(lang) {
				s.cookies.set(w, s.cookies.lang, string(lang), langCookieAge)
			}
		} else if l, ok := i18n.Parse(cookieValue(r, s.cookies.lang)); ok {
			lang = l
		} else {
			lang = i18n.FromAcceptLanguage(r.Header.Get("Accept-Language"))
		}
		next.ServeHTTP(w, r.WithContext(i18n.WithLang(r.Context(), lang)))
	})
}

// locale is what render needs to put a page into the request's language.
func (s *Server) locale(r *http.Request) ui.Locale {
	lang := i18n.FromContext(r.Context())
	return ui.Locale{
		Lang:      string(lang),
		Translate: func(text string, args ...any) string { return i18n.T(lang, text, args...) },
		Links:     s.langLinks(r, lang),
	}
}

// T translates a text a handler puts on a page into the request's language.
func (s *Server) T(r *http.Request, text string, args ...any) string {
	return i18n.T(i18n.FromContext(r.Context()), text, args...)
}

// langLinks are the language switch: this page's path (or, after a POST to a path without a
// page of its own, the nearest page) with ?lang=. The links carry no other parameter, so a page
// never echoes its query (an auth request, a handle, a foreign redirect URI) into its links;
// static/lang.js adds the flow's identifiers from the page's own forms when it runs, so the switch
// keeps the person where they are.
func (s *Server) langLinks(r *http.Request, current i18n.Lang) []ui.LangLink {
	path := r.URL.Path
	switch {
	case path == "/authorize" || strings.HasPrefix(path, "/authorize/") || path == "/end_session":
		return nil // protocol endpoints: an error page here has no flow left to keep
	case r.Method != http.MethodGet && !s.routable(http.MethodGet, path):
		path = loginPath
		if strings.HasPrefix(r.URL.Path, "/account") {
			path = accountPath
		}
	}
	links := make([]ui.LangLink, 0, len(i18n.Supported))
	for _, l := range i18n.Supported {
		links = append(links, ui.LangLink{Code: string(l), Name: i18n.Names[l], URL: path + "?" + langParam + "=" + string(l), Current: l == current})
	}
	return links
}

// routable reports whether the router has a route for method and path.
func (s *Server) routable(method, path string) bool {
	mux, ok := s.router.(chi.Routes)
	return ok && mux.Match(chi.NewRouteContext(), method, path)
}

// vonageLocale is the language of the SMS or call, as Vonage spells it ("de-de"): the person's
// page language, in the regional variant their browser prefers when it names one (en-US).
func vonageLocale(r *http.Request) string {
	if r == nil {
		return ""
	}
	lang := i18n.FromContext(r.Context())
	var prefs []language.Tag
	if al := r.Header.Get("Accept-Language"); al != "" && len(al) <= 256 {
		tags, _, _ := language.ParseAcceptLanguage(al)
		base, _ := lang.Tag().Base()
		for _, t := range tags {
			if b, _ := t.Base(); b == base {
				prefs = append(prefs, t)
			}
		}
	}
	prefs = append(prefs, lang.Tag())
	_, i, conf := vonageLocaleMatcher.Match(prefs...)
	if conf == language.No {
		return ""
	}
	return strings.ToLower(vonageLocales[i].String())
}
