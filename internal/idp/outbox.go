package idp

import (
	"net/http"
	"regexp"
	"time"
)

type outboxRow struct {
	At, To, Subject, Text string
	Code                  string // the 6-digit code in the message, if any, shown large
}

// outboxCodeRE finds a 6-digit code on a line of its own, as our code emails put it.
var outboxCodeRE = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)

// outboxCode returns the first 6-digit code in a development email's text, or "".
func outboxCode(text string) string {
	if m := outboxCodeRE.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// outboxRefreshSeconds: the outbox reloads itself so a new code shows up without a click.
const outboxRefreshSeconds = 5

type smsRow struct {
	At, To, Code, Channel string
}

type outboxPage struct {
	page
	Messages   []outboxRow
	SMS        []smsRow
	MailLogged bool // emails go to the development log (else SMTP or Brevo)
}

// handleOutbox lists what the development mail sender "sent", codes included, so a newcomer can
// try every flow without a mail account. It is only routed with IDP_ENV=development.
func (s *Server) handleOutbox(w http.ResponseWriter, r *http.Request) {
	p, err := s.newPage("Development outbox")
	if err != nil {
		s.renderError(w, r, http.StatusInternalServerError, msgInternal)
		return
	}
	p.Refresh = outboxRefreshSeconds
	var rows []outboxRow
	if s.opts.Outbox != nil {
		for _, m := range s.opts.Outbox.Outbox() {
			rows = append(rows, outboxRow{At: m.At.Format(time.TimeOnly), To: m.To, Subject: m.Subject, Text: m.Text, Code: outboxCode(m.Text)})
		}
	}
	var texts []smsRow
	if s.sms.cfg.SMSOutbox != nil {
		for _, m := range s.sms.cfg.SMSOutbox.Outbox() { // newest first
			texts = append(texts, smsRow{At: m.At.Format(time.TimeOnly), To: m.To, Code: m.Code, Channel: m.Channel})
		}
	}
	s.render(w, r, http.StatusOK, "outbox", p, outboxPage{page: p, Messages: rows, SMS: texts, MailLogged: s.opts.Outbox != nil})
}
