// Package userimport brings the users of another application (the Flask app this IdP replaces)
// into the store: it reads JSON Lines or CSV, renames columns (--map), checks every line
// (address as at signup, a password hash within internal/password's limits, the phone of a
// two-step user against the allowed countries), rejects every line of an address that appears
// more than once, and writes the rest in batches through store.ImportUsers (one transaction per
// batch, a bad line failing alone). It never computes a hash: the hashes are stored as given and
// replaced with argon2id at each person's first sign-in. Reasons it gives name the column and
// the rule, never a hash or a phone number.
package userimport
