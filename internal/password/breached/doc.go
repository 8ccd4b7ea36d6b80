// Package breached embeds a list of common and breached passwords and answers whether a password
// is on it.
//
// NIST SP 800-63B-4 §3.1.1.2 requires verifiers to compare a new password against "a blocklist
// that contains known commonly used, expected, or compromised passwords" and to refuse a match.
// The list (list.txt, 49,271 entries; see LICENSE-SOURCE.md for where it comes from and its
// licence) is stored lower-case and NFKC-normalised, so callers look up
// strings.ToLower(password.Normalize(pw)). It is parsed into a set on first use, once per process.
package breached
