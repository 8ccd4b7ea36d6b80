package idp

import (
	"net/http"
	"time"
)

type outboxRow struct {
	At, To, Subject, Text string
}

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
	var rows []outboxRow
	if s.opts.Outbox != nil {
		for _, m := range s.opts.Outbox.Outbox() {
			rows = append(rows, outboxRow{At: m.At.Format(time.TimeOnly), To: m.To, Subject: m.Subject, Text: m.Text})
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
