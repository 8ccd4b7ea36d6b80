package migrations

import "embed"

// Postgres holds postgres/NNNNNN_name.{up,down}.sql; open it with iofs.New(Postgres, "postgres").
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds sqlite/NNNNNN_name.{up,down}.sql; open it with iofs.New(SQLite, "sqlite").
//
//go:embed sqlite/*.sql
var SQLite embed.FS
