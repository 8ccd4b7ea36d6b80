// Package storetest is the conformance suite of store.Store: one set of tests that every
// implementation (PostgreSQL, SQLite) runs, so that the two cannot drift apart. The doc comments
// of store.Store are the contract; each test names the clause it checks.
package storetest

import (
	"testing"

	"github.com/fintech-idp/idp/internal/store"
)

// Run runs the suite. open must return a fresh, migrated, empty store each time it is called and
// arrange its closing with t.Cleanup; Run calls it once per top-level test, whose sub-tests share
// that store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Ping", testPing},
		{"Users", testUsers},
		{"ListUsers", testListUsers},
		{"SetUserDisabled", testSetUserDisabled},
		{"DeleteUser", testDeleteUser},
		{"Clients", testClients},
		{"ListClients", testListClients},
		{"DeleteClient", testDeleteClient},
		{"UpdateClient", testUpdateClient},
		{"SetClientSecretHash", testSetClientSecretHash},
		{"SigningKeys", testSigningKeys},
		{"SetSigningKeyPrivate", testSetSigningKeyPrivate},
		{"AuthRequests", testAuthRequests},
		{"AuthCodes", testAuthCodes},
		{"IssueTokensFromCode", testIssueFromCode},
		{"IssueTokensRotation", testIssueRotation},
		{"AccessTokens", testAccessTokens},
		{"RefreshTokens", testRefreshTokens},
		{"Sessions", testSessions},
		{"RevokeSession", testRevokeSession},
		{"RotateSession", testRotateSession},
		{"ListSessions", testListSessions},
		{"GetSession", testGetSession},
		{"RevokeUserSessions", testRevokeUserSessions},
		{"SessionEpoch", testSessionEpoch},
		{"RevocationEndsSignIns", testRevocationEndsSignIns},
		{"IssueChecksAuthentication", testIssueChecksAuthentication},
		{"ChangePassword", testChangePassword},
		{"OfflineConsents", testOfflineConsents},
		{"EmailCodes", testEmailCodes},
		{"CheckEmailCode", testCheckEmailCode},
		{"Counters", testCounters},
		{"ReserveAttempt", testReserveAttempt},
		{"Audit", testAudit},
		{"SearchAudit", testSearchAudit},
		{"DeleteAuditBefore", testDeleteAuditBefore},
		{"DeleteExpired", testDeleteExpired},
		{"WithLock", testWithLock},
		{"ConcurrentCodeRedemption", testCodeRace},
		{"ConcurrentRefreshRotation", testRefreshRace},
		{"ConcurrentIndependentWrites", testIndependentWrites},
		{"ConcurrentEmailCodeGuesses", testEmailCodeRace},
		{"ConcurrentEmailCodeResends", testEmailResendRace},
		{"ConcurrentCounterHits", testCounterRace},
		{"ConcurrentAttemptReservations", testReserveAttemptRace},
		{"ConcurrentDeleteUser", testDeleteUserRace},
		{"ConcurrentRevokeWhileSigningIn", testRevokeRace},
		{"SMSChallenges", testSMSChallenges},
		{"RecoveryCodes", testRecoveryCodes},
		{"SetUserMFA", testSetUserMFA},
		{"DeleteUserMFA", testDeleteUserMFA},
		{"DeleteExpiredSMS", testDeleteExpiredSMS},
		{"ConcurrentSMSAttempts", testSMSAttemptRace},
		{"ConcurrentSMSEnd", testSMSEndRace},
		{"ConcurrentRecoveryCodeUse", testRecoveryCodeRace},
		{"ImportUsers", testImportUsers},
		{"IssueFirstRecoveryCodes", testIssueFirstRecoveryCodes},
		{"ConcurrentIssueFirstRecoveryCodes", testIssueFirstRecoveryCodesRace},
		{"ConcurrentImportAndSignup", testImportSignupRace},
		{"ClientAuthFields", testClientAuthFields},
		{"Resources", testResources},
		{"ClientResources", testClientResources},
		{"ClientAssertions", testClientAssertions},
		{"ConcurrentClientAssertions", testClientAssertionRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open(t)))
		})
	}
}

// RunShared checks the clause "safe for concurrent use across processes sharing one database":
// openPair must return two stores opened separately (as two replicas would) on one fresh,
// migrated, empty database. The race tests then send every other call to the second store, and
// WithLock takes the lock on one store while the other tries.
func RunShared(t *testing.T, openPair func(t *testing.T) (store.Store, store.Store)) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"ConcurrentCodeRedemption", testCodeRace},
		{"ConcurrentRefreshRotation", testRefreshRace},
		{"ConcurrentIndependentWrites", testIndependentWrites},
		{"ConcurrentEmailCodeGuesses", testEmailCodeRace},
		{"ConcurrentEmailCodeResends", testEmailResendRace},
		{"ConcurrentCounterHits", testCounterRace},
		{"ConcurrentAttemptReservations", testReserveAttemptRace},
		{"ConcurrentDeleteUser", testDeleteUserRace},
		{"ConcurrentRevokeWhileSigningIn", testRevokeRace},
		{"ConcurrentSMSAttempts", testSMSAttemptRace},
		{"ConcurrentSMSEnd", testSMSEndRace},
		{"ConcurrentRecoveryCodeUse", testRecoveryCodeRace},
		{"ConcurrentIssueFirstRecoveryCodes", testIssueFirstRecoveryCodesRace},
		{"ConcurrentImportAndSignup", testImportSignupRace},
		{"ConcurrentClientAssertions", testClientAssertionRace},
		{"WithLock", testWithLock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := openPair(t)
			e := newEnv(t, a)
			e.peer = b
			tc.fn(t, e)
		})
	}
}
