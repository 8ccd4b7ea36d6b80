package idp

import (
	"net/http"
)

// Fixed, human messages for error pages. Details go to the log with the request id, which the
// page shows as a reference.
const (
	msgBadRequest   = "Something about this request is not right. Please go back to the application and try again."
	msgBadAuthorize = "This sign-in link is not valid: the application that sent you here is unknown or used an address it has not registered. Please go back to the application and try again."
	msgInternal     = "Something went wrong on our side. Please try again in a moment."
	msgNotFound     = "This page does not exist."
	msgMethod       = "This page cannot be used that way."
	msgCrossOrigin  = "This form was sent from another site and was refused. Please open the sign-in page again."
	msgExpired      = "This sign-in request has expired or was started in another browser. Please go back to the application and start again."
)

// brand is what every page shows in its header.
type brand struct {
	Name  string
	Color string
	Logo  string // <img src> of IDP_BRAND_LOGO, or ""
}

// page is the data every template gets; each page adds its own fields by embedding it.
type page struct {
	Title string
	Brand brand
	Nonce string
	// DevOutbox: development only; pages that wait for a code link to /dev/outbox.
	DevOutbox bool
	// Refresh, when set, reloads the page every so many seconds (the development outbox).
	Refresh int
}

func (s *Server) newPage(title string) (page, error) {
	nonce, err := randomToken(s.rand, 16)
	if err != nil {
		return page{}, err
	}
	b := brand{Name: s.opts.BrandName, Color: s.opts.BrandColor}
	if s.logo != nil {
		b.Logo = s.logo.src
	}
	return page{Title: title, Brand: b, Nonce: nonce,
		DevOutbox: s.opts.Development}, nil
}

// render writes a page with its security headers. A template failure is logged and answered
// with a plain fixed text (the page itself cannot be trusted then).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page, data any) {
	imgSrc := ""
	if s.logo != nil {
		imgSrc = s.logo.cspSource
	}
	pageHeaders(w.Header(), p.Nonce, imgSrc)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1") // RFC 9110 §10.2.3
	}
	var buf bufferWriter
	if err := s.pages.RenderLocale(&buf, name, data, s.locale(r)); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "Something went wrong on our side. Please try again in a moment.", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.b)
}

type bufferWriter struct{ b []byte }

func (b *bufferWriter) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

type errorPage struct {
	page
	Heading   string
	Message   string
	RequestID string
	// Detail is the protocol error behind the page (error code and description), shown under the
	// reference in development only: production keeps the fixed text.
	Detail string
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderErrorDetail(w, r, status, msg, "")
}

// renderErrorDetail is renderError with the reason a developer needs; the detail is dropped
// outside development.
func (s *Server) renderErrorDetail(w http.ResponseWriter, r *http.Request, status int, msg, detail string) {
	if !s.opts.Development {
		detail = ""
	}
	p, err := s.newPage("Error")
	if err != nil {
		http.Error(w, msgInternal, http.StatusInternalServerError)
		return
	}
	heading := "Something went wrong"
	switch {
	case status == http.StatusNotFound:
		heading = "Page not found"
	case status < 500:
		heading = "We could not continue"
	}
	s.render(w, r, status, "error", p, errorPage{page: p, Heading: heading, Message: msg, RequestID: RequestIDFrom(r.Context()), Detail: detail})
}

// parseForm reads a bounded form body; on failure — a body too large or unreadable, a repeated
// field, or characters no browser sends (badParams) — it answers with a fixed page and returns
// false.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || badParams(r.PostForm) || badParams(r.URL.Query()) {
		s.renderError(w, r, http.StatusBadRequest, msgBadForm)
		return false
	}
	return true
}
