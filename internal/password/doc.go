// Package password hashes and verifies passwords.
//
// New hashes are argon2id (RFC 9106) in the PHC string format
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>", with the OWASP Password Storage Cheat Sheet
// minimum as the default cost. Passwords are Unicode-normalised (NFKC, NIST SP 800-63B-4) before hashing so that the
// same password typed on different keyboards or operating systems verifies.
//
// Verify also accepts the hashes imported from the original Flask application, so its users keep
// their passwords: Werkzeug "pbkdf2:sha256:ITER$salt$hex" (and pbkdf2:sha512), Werkzeug
// "scrypt:N:r:p$salt$hex" and bcrypt "$2a$"/"$2b$"/"$2y$". Every hash carries its own parameters
// and they are always parsed from it, never assumed; a hash whose parameters would make
// verification absurdly expensive is refused as malformed. Verify reports needsRehash for every
// imported hash and for argon2id hashes weaker than the Hasher's parameters, so the caller can
// store a fresh hash right after a successful login.
//
// Policy.Check applies the rules of NIST SP 800-63B-4 for a single-factor password: a minimum
// length (15 by default), no composition rules, and refusal of common or breached passwords (the
// bundled list in package breached), of the email and the brand name, of repetitive or
// sequential strings, of keyboard walks and of listed passwords with easy decorations
// ("Password123456789!"; see guessable.go), then of what the zxcvbn estimator scores below
// MinScore. With a BreachChecker (HIBP: the Have I Been Pwned range API, k-anonymity) it also
// refuses passwords seen in breaches, and fails closed when that check cannot answer.
package password
