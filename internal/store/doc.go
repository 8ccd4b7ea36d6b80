// Package store is the only package that speaks SQL. It defines the domain records the IdP keeps,
// the Store interface whose comments are the contract, and its two implementations: PostgreSQL
// (pgxpool) for production and scale-out, and embedded SQLite (modernc.org/sqlite, no cgo) as the
// zero-setup default. The conformance suite in storetest runs against both.
package store
