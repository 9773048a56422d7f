package main

import (
	"os"

	"github.com/spf13/pflag"
)

// EnvPGDSN names the environment variable the PostgreSQL connection string
// defaults from. It may carry a password: prefer PGPASSWORD or a
// ~/.pgpass file, which libpq and pgx read too.
const EnvPGDSN = "LIFEBOAT_PG_DSN"

// pgFlags are the PostgreSQL connection flags of the backup commands.
type pgFlags struct {
	dsn    string
	binDir string
}

func (f *pgFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dsn, "pg-dsn", os.Getenv(EnvPGDSN),
		"PostgreSQL connection string, URL or key=value (default $"+EnvPGDSN+"; empty uses the PG* environment)")
	fs.StringVar(&f.binDir, "pg-bindir", os.Getenv("LIFEBOAT_PG_BINDIR"),
		"directory of pg_dump (default $LIFEBOAT_PG_BINDIR, else PATH)")
}
