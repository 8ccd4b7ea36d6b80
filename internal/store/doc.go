// Package store is the only package that speaks SQL. It defines the domain records the IdP keeps,
// the Store interface whose comments are the contract, and its two implementations: PostgreSQL
// (pgxpool) for production and scale-out, and embedded SQLite (modernc.org/sqlite, no cgo) as the
// zero-setup default. The conformance suite in storetest runs against both.
//
// Both databases share one implementation over database/sql (sql.go and the sql_*.go files): the
// queries are written once with ? placeholders and a small dialect value covers what differs
// (placeholders, how times travel, transaction retries). Open picks the database from
// DATABASE_URL; Migrate and MigrationVersion apply the SQL files embedded by package migrations.
// Driver errors are translated here, at the edge, into ErrNotFound and ErrConflict; driver types
// never leave the package (PoolStats carries plain numbers for metrics).
package store
