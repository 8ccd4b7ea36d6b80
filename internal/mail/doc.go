// Package mail delivers the IdP's email: verification and reset codes and security notices.
//
// A Sender sends one Message. Three implementations exist:
//
//   - Brevo calls Brevo's transactional email API (POST {BaseURL}/smtp/email). It retries 429,
//     5xx, timeouts and network errors with the same idempotency key, so a retry after a lost
//     answer does not send the email twice, and gives up on 400/401/402/403 at once.
//   - SMTP submits to any SMTP relay (smtp:// with STARTTLS, smtps:// with implicit TLS). It never
//     sends credentials over an unencrypted connection except to a loopback mail catcher.
//   - Log writes the message, code included, to the log (marked dev_only=true) and keeps the last
//     messages in memory for the development outbox page. It is for development only.
//
// Every error a Sender returns wraps ErrPermanent (retrying cannot help: a rejected request, bad
// credentials, an invalid Message) or ErrTemporary (the provider may accept it later: retries were
// exhausted, or ctx ended first, in which case the error also wraps ctx.Err()). Errors and log
// records carry the provider's status and error code but never the API key, a message body or the
// recipient's full address: recipients appear masked by Mask ("a***@example.com").
//
// Templates renders the text and HTML bodies and the subject of each Kind of email from the
// templates embedded under templates/, parsed once by NewTemplates.
package mail
