package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the pages; each is parsed once at start with the layout.
var pageNames = []string{"home", "dashboard", "payment", "payment_done", "needs_mfa", "error"}

type pages map[string]*template.Template

func parsePages() (pages, error) {
	p := pages{}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		p[name] = t
	}
	return p, nil
}

func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

// page is what every page gets; Data holds the page's own fields.
type page struct {
	Title       string
	Unreachable bool
	SignedIn    bool
	SignedOut   bool
	SecurityURL string
	Message     string
	// Page-specific fields.
	Email, MFAStatus, AMR, ACR, AuthTime, Expiry string
	EmailVerified                                bool
	Accounts                                     []account
	Transactions                                 []transaction
	Recipient, Amount, Error                     string
}

type account struct{ Name, Balance string }
type transaction struct{ Date, Description, Amount string }

// render writes a page through a buffer, so a template error never leaves half a page.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.SecurityURL = "/security" // via handleSecurity, so the claims are re-read after it
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		a.log.ErrorContext(r.Context(), "render", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageError is one of the fixed, human messages shown instead of error details.
type pageError struct {
	status int
	title  string
	msg    string
}

var (
	errPageExpired   = pageError{http.StatusBadRequest, "Please sign in again", "This sign-in took too long or was already used. Please start again."}
	errPageDenied    = pageError{http.StatusForbidden, "Sign-in did not complete", "The sign-in was cancelled or refused. You can try again."}
	errPageExchange  = pageError{http.StatusBadGateway, "Sign-in did not complete", "We could not complete your sign-in with the identity provider. Please try again."}
	errPageForbidden = pageError{http.StatusForbidden, "Request refused", "This form was sent from another site, so we refused it."}
	errPageInternal  = pageError{http.StatusInternalServerError, "Something went wrong", "Something went wrong on our side. Please try again."}
)

func (a *app) renderError(w http.ResponseWriter, r *http.Request, e pageError) {
	a.render(w, r, e.status, "error", page{Title: e.title, Message: e.msg})
}
