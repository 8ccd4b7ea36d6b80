// Package migrations embeds the numbered golang-migrate SQL files of both databases, so that the
// binary carries its schema and `idp migrate` needs no files on disk. It holds no code: package
// store opens these file systems with golang-migrate's iofs source.
//
// Each dialect has its own directory because the column types differ (PostgreSQL keeps
// timestamptz, boolean, jsonb and bytea; SQLite STRICT tables keep INTEGER microseconds since
// 1970 UTC, INTEGER 0/1, JSON TEXT and BLOB), while the tables, columns, constraints and indexes
// are the same, so one set of queries in package store serves both. A change to the schema is a new
// pair of files with the next number in both directories.
package migrations
