package idp

import "context"

// passwordProblems returns the messages of every reason the new password pw is refused for the
// account with this email (password.Policy.Check), for signup, reset and change alike. When the
// breach check cannot answer, the password is refused for now and the cause goes to the log,
// never to the page.
func (s *Server) passwordProblems(ctx context.Context, pw, email string) []string {
	vs, err := s.policy.Check(ctx, pw, email)
	if err != nil {
		s.log.WarnContext(ctx, "password breach check failed; password refused for now", "error", err)
	}
	msgs := make([]string, 0, len(vs))
	for _, v := range vs {
		msgs = append(msgs, v.Message)
	}
	return msgs
}
