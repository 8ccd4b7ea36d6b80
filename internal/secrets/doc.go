// Package secrets derives every key the IdP needs from SECRET_KEY and seals data at rest with them.
//
// A Keyring holds the current secret and, during a rotation, previous ones. For each purpose
// ("signing-key", "oidc-crypto", …) it derives an independent 256-bit key with HKDF-SHA256
// (RFC 5869), so a key leaked or misused for one purpose says nothing about another. Seal encrypts
// with AES-256-GCM under the current secret's key; Open accepts data sealed under any secret on the
// ring, and NeedsReseal tells the caller to re-encrypt data that a previous secret sealed, so a
// rotation can finish and the old secret be dropped.
//
// Sealed format (all versions start with a version byte):
//
//	version (1 byte, 0x01) | key id (8 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The key id identifies the secret (not the purpose): it is the first 8 bytes of SHA-256 of a key
// derived from the secret for that use alone, so it reveals nothing about the secret or the
// per-purpose keys, and Open and NeedsReseal can pick the secret without trying each one. The
// version byte, key id and purpose are authenticated as GCM additional data: data sealed for one
// purpose cannot be opened as another.
//
// DeriveKey gives the same per-purpose key to code that needs raw key bytes, such as
// zitadel/oidc's op.Config.CryptoKey. It uses the current secret only, so everything encrypted
// with such a key becomes unreadable when SECRET_KEY changes.
package secrets
