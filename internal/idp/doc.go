// Package idp is the OpenID Provider: the op.Storage adapter over internal/store, the clients and
// signing keys, the claims, the browser-bound login state machine and the hosted pages' handlers.
// It builds on github.com/zitadel/oidc/v3/pkg/op and fills in what that library leaves to us (see
// docs/ARCHITECTURE.md): single-use codes, refresh rotation with reuse detection, SSO sessions,
// browser binding, RFC 9068 access tokens, our discovery document and error pages.
package idp
