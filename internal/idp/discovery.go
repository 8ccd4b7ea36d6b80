package idp

import (
	"encoding/json"
	"github.com/fintech-idp/idp/internal/i18n"
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

var (
	supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile, oidc.ScopeOfflineAccess}
	supportedClaims = []string{
		"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
		"email", "email_verified", "mfa_enabled",
	}
	// acrValuesSupported: what a sign-in here can achieve (docs/ARCHITECTURE.md, "Claims").
	acrValuesSupported = []string{acrPassword, acrMFA}
)

// discovery builds our document from the library's, minus what we do not serve (implicit and
// hybrid response types, the device endpoint, check_session_iframe, request objects) and plus what the library never lists (acr_values_supported).
func (s *Server) discovery(r *http.Request) *oidc.DiscoveryConfiguration {
	d := op.CreateDiscoveryConfig(r.Context(), s.provider, s.storage)
	d.DeviceAuthorizationEndpoint = ""
	d.CheckSessionIframe = ""
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{"query", "fragment", "form_post"}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	d.ACRValuesSupported = acrValuesSupported
	// Client authentication is ours (clientauth.go): each client uses its registered method.
	confidential := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT}
	var algs []string
	for _, a := range assertionAlgorithms {
		algs = append(algs, string(a))
	}
	d.TokenEndpointAuthMethodsSupported = append(slices.Clone(confidential), oidc.AuthMethodNone)
	d.TokenEndpointAuthSigningAlgValuesSupported = algs
	d.IntrospectionEndpointAuthMethodsSupported = confidential
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = algs
	d.RevocationEndpointAuthMethodsSupported = append(slices.Clone(confidential), oidc.AuthMethodNone)
	d.RevocationEndpointAuthSigningAlgValuesSupported = algs
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	d.SubjectTypesSupported = []string{"public"}
	d.ClaimsSupported = supportedClaims
	d.ScopesSupported = supportedScopes
	d.UILocalesSupported = nil
	for _, l := range i18n.Supported { // the hosted pages' languages, chosen by ui_locales
		d.UILocalesSupported = append(d.UILocalesSupported, l.Tag())
	}
	return d
}

// discoveryDocument is the library's document plus the members its struct does not know.
type discoveryDocument struct {
	*oidc.DiscoveryConfiguration
	// RFC 9207 §3: every authorization response carries iss (see addIss).
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	b, err := json.MarshalIndent(discoveryDocument{s.discovery(r), true}, "", "  ")
	if err != nil {
		s.log.ErrorContext(r.Context(), "discovery", "error", err)
		http.Error(w, msgInternal, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*") // public metadata (OIDC Discovery §4)
	_, _ = w.Write(append(b, '\n'))
}
