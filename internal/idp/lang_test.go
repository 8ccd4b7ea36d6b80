package idp

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestPagesInTheVisitorsLanguage: Accept-Language picks the language; the switch (?lang=) and
// ui_locales on /authorize override it and are remembered; texts handlers build at run time are
// translated too; <html lang> follows.
func TestPagesInTheVisitorsLanguage(t *testing.T) {
	h := newHarness(t)
	h.seed(t)
	getWith := func(b *http.Client, u, acceptLanguage string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return sb.String()
	}
	tests := []struct {
		name, accept, query string
		want                []string
	}{
		{"English by default", "", "", []string{`<html lang="en">`, "Create your account", `hreflang="de"`}},
		{"German from the browser", "de-CH,de;q=0.9", "", []string{`<html lang="de">`, "Erstellen Sie Ihr Konto", "Passwort bestätigen", "Verwenden Sie mindestens 15 Zeichen."}},
		{"French from the browser", "fr-FR,fr;q=0.8,en;q=0.5", "", []string{`<html lang="fr">`, "Créez votre compte", "Utilisez au moins 15 caractères."}},
		{"the switch wins over the browser", "de", "?lang=fr", []string{`<html lang="fr">`, "Créez votre compte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := getWith(newTestBrowser(t), h.ts.URL+signupPath+tt.query, tt.accept)
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}

	// The switch is remembered; a run-time message (a failed sign-in) comes translated.
	b := newTestBrowser(t)
	getWith(b, h.ts.URL+signupPath+"?lang=de", "fr")
	if page := getWith(b, h.ts.URL+signupPath, "fr"); !strings.Contains(page, `<html lang="de">`) {
		t.Error("the chosen language was not remembered")
	}
	_, page := postForm(t, b, h.ts.URL+loginPath, url.Values{"email": {flowEmail}, "password": {"wrong password, wrong"}})
	if !strings.Contains(page, "E-Mail-Adresse oder Passwort ist falsch.") {
		t.Errorf("the sign-in error is not in German: %.800s", page)
	}

	// ui_locales on the authorization request (OpenID Connect Core §3.1.2.1).
	b = newTestBrowser(t)
	resp, page := get(t, b, h.authorizeURL(url.Values{"ui_locales": {"es fr"}}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<html lang="fr">`) || !strings.Contains(page, "Se connecter") {
		t.Errorf("ui_locales=fr: %d %.400s", resp.StatusCode, page)
	}
}

// TestEmailsInThePagesLanguage: the code email goes out in the language of the page the person
// signed up on.
func TestEmailsInThePagesLanguage(t *testing.T) {
	h := newHarness(t)
	b := newTestBrowser(t)
	get(t, b, h.ts.URL+signupPath+"?lang=de")
	h.signup(t, b, "grete@example.com", ownerPW)
	msgs := h.outbox.Outbox()
	if len(msgs) == 0 {
		t.Fatal("no email")
	}
	m := msgs[0]
	for _, want := range []string{"Sicherheitscode zur Bestätigung Ihrer E-Mail-Adresse", "Ihr Bestätigungscode für FinTech ID lautet:", "Er läuft in 10 Minuten ab."} {
		if !strings.Contains(m.Subject+m.Text, want) {
			t.Errorf("the email lacks %q:\n%s\n%s", want, m.Subject, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `<html lang="de">`) {
		t.Error("the HTML email is not marked German")
	}
}

// TestAccountInGerman: the sessions list speaks the page's language too (device and date).
func TestAccountInGerman(t *testing.T) {
	h := newMFAHarness(t, nil)
	b := h.accountBrowser(t)
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+accountPath+"?lang=de", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	page := sb.String()
	for _, want := range []string{"Ihr Konto", "zuletzt aktiv ", "Wo Sie angemeldet sind"} {
		if !strings.Contains(page, want) {
			t.Errorf("the German account page lacks %q", want)
		}
	}
	if strings.Contains(page, " on Linux") || regexp.MustCompile(`zuletzt aktiv \d{1,2} [A-Z][a-z]{2} `).MatchString(page) {
		t.Errorf("English device or date on the German account page")
	}
}
