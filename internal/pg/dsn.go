package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// WithDatabase returns dsn pointing at database db, keeping its form (URL or
// key=value) and every other setting.
func WithDatabase(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + db
		return u.String()
	}
	// NOTE: in key=value form a later keyword wins, so appending is enough.
	return dsn + " dbname=" + quoteKV(db)
}

func quoteKV(v string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'"
}

// Querier is what QueryValue needs: a connection or a pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNoValue means a check query returned no row, so there is no value to
// compare.
var ErrNoValue = errors.New("the query returned no rows")

// QueryValue runs a check query and returns its single value as PostgreSQL
// prints it ("NULL" for null). The query is first wrapped in a text cast;
// only when PostgreSQL cannot parse it wrapped (a WITH, a trailing ';') does
// it run as written. Any other failure is the database's own error (a
// missing table, a denied permission, several rows), so the check reports
// what went wrong rather than a retry's "no rows in result set".
func QueryValue(ctx context.Context, q Querier, sql string) (string, error) {
	var v *string
	err := q.QueryRow(ctx, "SELECT ("+sql+")::text").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgSyntaxError {
		err = q.QueryRow(ctx, sql).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("%w: %s", ErrNoValue, strings.TrimSpace(sql))
		}
	}
	if err != nil {
		return "", err
	}
	if v == nil {
		return "NULL", nil
	}
	return *v, nil
}

// pgSyntaxError is SQLSTATE syntax_error.
const pgSyntaxError = "42601"

// DatabaseExists asks the server behind dsn whether database db exists.
func DatabaseExists(ctx context.Context, dsn, db string) (bool, error) {
	p, err := Pool(ctx, dsn)
	if err != nil {
		return false, err
	}
	if err := Ping(ctx, p); err != nil {
		return false, err
	}
	var exists bool
	err = p.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists)
	return exists, err
}

// HasPassword reports whether a connection string itself carries a
// password (not one PGPASSWORD or ~/.pgpass would supply).
func HasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, set := u.User.Password(); set {
			return true
		}
		return u.Query().Has("password")
	}
	return keywordPassword.MatchString(dsn)
}

var keywordPassword = regexp.MustCompile(`(^|\s)password\s*=`)

// LibpqEnv renders a parsed connection as libpq environment variables for
// the client tools (pg_dump, pg_restore), so no password shows in the
// process list. app names the connection in pg_stat_activity.
func LibpqEnv(cfg *pgconn.Config, dsn, app string) []string {
	env := []string{
		"PGHOST=" + cfg.Host,
		"PGPORT=" + strconv.Itoa(int(cfg.Port)),
		"PGUSER=" + cfg.User,
		"PGAPPNAME=" + app,
	}
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	if cfg.TLSConfig == nil || filepath.IsAbs(cfg.Host) {
		env = append(env, "PGSSLMODE=disable")
	} else if mode := sslMode(dsn); mode != "" {
		env = append(env, "PGSSLMODE="+mode)
	}
	return env
}

// sslMode finds sslmode in a URL or key=value connection string.
func sslMode(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Get("sslmode")
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "sslmode="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// Describe names the server and database of dsn for records and messages,
// never its password: "host:port/db", or "" when dsn does not parse.
func Describe(dsn string) string {
	if dsn == "" {
		return ""
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
