// Package pg is Lifeboat's door to PostgreSQL (pgx): shared connection pools
// per DSN, archive settings through ALTER SYSTEM, pg_stat_archiver, and WAL
// switches.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnreachable means the server could not be reached or refused the login.
var ErrUnreachable = errors.New("PostgreSQL unreachable")

// ErrPrivilege means the role lacks a privilege the operation needs.
var ErrPrivilege = errors.New("insufficient privilege")

// ParseDSN validates a connection string (URL or key=value) without connecting.
func ParseDSN(dsn string) error {
	_, err := pgxpool.ParseConfig(dsn)
	return err
}

var (
	poolsMu sync.Mutex
	pools   = map[string]*pgxpool.Pool{}
)

// Pool returns the process-wide pool for dsn, creating it on first use, so
// hundreds of resources on one server share a handful of connections.
// GOTCHA: callers never Close it: every other user of the same DSN in the
// process would then fail with "closed pool".
func Pool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	if p, ok := pools[dsn]; ok {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing connection string: %w", err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	// ALTER SYSTEM cannot run in a transaction or a prepared statement.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	// Every connection is pinged when taken from the pool, not only those
	// idle for a second (pgxpool's default): after a server restart (which
	// archive settings need) every pooled connection is dead, and the first
	// query on one fails with "terminating connection due to administrator
	// command". A failed ping discards the connection and takes another.
	// One round trip per use is nothing next to what these pools run.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating pool: %w", err)
	}
	pools[dsn] = p
	return p, nil
}

// Ping checks the server answers, classifying failures.
// A failed ping resets the pool and tries once more: after a server restart
// every pooled connection is dead, and that is not an outage.
func Ping(ctx context.Context, p *pgxpool.Pool) error {
	if err := p.Ping(ctx); err != nil {
		p.Reset()
		if err := p.Ping(ctx); err != nil {
			return classify(p, err)
		}
	}
	return nil
}

func classify(p *pgxpool.Pool, err error) error {
	where := fmt.Sprintf("%s:%d", p.Config().ConnConfig.Host, p.Config().ConnConfig.Port)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42501":
			return fmt.Errorf("%w: %w", ErrPrivilege, err)
		case "28P01", "28000", "3D000":
			return fmt.Errorf("%w at %s (login refused): %w", ErrUnreachable, where, err)
		}
		return err
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || errors.As(err, &netErr) {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, where, err)
	}
	return err
}

// BinDir is where PostgreSQL's client programs (pg_dump, pg_restore,
// pg_ctl) are looked for first: $LIFEBOAT_PG_BINDIR, else Debian's
// PostgreSQL 15 folder. Callers fall back to PATH when it does not exist.
func BinDir() string {
	if d := os.Getenv("LIFEBOAT_PG_BINDIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Program returns the path of a PostgreSQL program: in BinDir when it is
// there, else the bare name for PATH lookup.
func Program(name string) string {
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return name
}
