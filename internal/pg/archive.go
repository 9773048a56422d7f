package pg

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ArchiveSettings are the server settings continuous archiving needs.
type ArchiveSettings struct {
	WALLevel       string // replica or logical
	ArchiveMode    string // on, always or off
	ArchiveCommand string
	ArchiveTimeout time.Duration
}

// ArchiveState is what ReadArchive observes.
type ArchiveState struct {
	// Settings are the values PostgreSQL would use after a reload/restart
	// (postgresql.auto.conf wins over the running value when they differ).
	Settings ArchiveSettings
	// PendingRestart lists settings whose new value waits for a restart.
	PendingRestart []string
	// SystemIdentifier identifies the cluster.
	SystemIdentifier uint64
	Archiver         ArchiverStats
}

// ArchiverStats is pg_stat_archiver.
type ArchiverStats struct {
	ArchivedCount    int64
	LastArchivedWAL  string
	LastArchivedTime time.Time
	FailedCount      int64
	LastFailedWAL    string
	LastFailedTime   time.Time
}

// Failing reports whether the last attempt failed (a failure newer than the
// last success).
func (a ArchiverStats) Failing() bool {
	return a.FailedCount > 0 && a.LastFailedTime.After(a.LastArchivedTime)
}

var archiveNames = []string{"wal_level", "archive_mode", "archive_command", "archive_timeout"}

// ReadArchive reads the archive settings, pending restarts and archiver stats.
func ReadArchive(ctx context.Context, p *pgxpool.Pool) (ArchiveState, error) {
	var st ArchiveState
	rows, err := p.Query(ctx, `select name, setting, pending_restart from pg_settings where name = any($1)`, archiveNames)
	if err != nil {
		return st, classify(p, err)
	}
	running := map[string]string{}
	for rows.Next() {
		var name, setting string
		var pending bool
		if err := rows.Scan(&name, &setting, &pending); err != nil {
			return st, err
		}
		running[name] = setting
		if pending {
			st.PendingRestart = append(st.PendingRestart, name)
		}
	}
	if err := rows.Err(); err != nil {
		return st, classify(p, err)
	}
	// GOTCHA: for a restart-only setting changed by ALTER SYSTEM, pg_settings
	// still shows the running value; the file value is what will apply.
	file := map[string]string{}
	rows, err = p.Query(ctx, `select name, setting from pg_file_settings where name = any($1) and (error is null or error = 'setting could not be applied') order by seqno`, archiveNames)
	if err == nil {
		for rows.Next() {
			var name, setting string
			if err := rows.Scan(&name, &setting); err == nil {
				file[name] = setting // later seqno wins, like PostgreSQL
			}
		}
		rows.Close()
	}
	get := func(name string) string {
		if v, ok := file[name]; ok {
			return v
		}
		return running[name]
	}
	st.Settings.WALLevel = get("wal_level")
	st.Settings.ArchiveMode = get("archive_mode")
	st.Settings.ArchiveCommand = get("archive_command")
	st.Settings.ArchiveTimeout, _ = parseSeconds(get("archive_timeout"))

	var sysid string
	if err := p.QueryRow(ctx, `select system_identifier::text from pg_control_system()`).Scan(&sysid); err != nil {
		return st, classify(p, err)
	}
	st.SystemIdentifier, _ = strconv.ParseUint(sysid, 10, 64)

	var a ArchiverStats
	var lastArchived, lastFailed *time.Time
	var lastArchivedWAL, lastFailedWAL *string
	if err := p.QueryRow(ctx, `select archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time from pg_stat_archiver`).
		Scan(&a.ArchivedCount, &lastArchivedWAL, &lastArchived, &a.FailedCount, &lastFailedWAL, &lastFailed); err != nil {
		return st, classify(p, err)
	}
	if lastArchived != nil {
		a.LastArchivedTime = *lastArchived
	}
	if lastFailed != nil {
		a.LastFailedTime = *lastFailed
	}
	if lastArchivedWAL != nil {
		a.LastArchivedWAL = *lastArchivedWAL
	}
	if lastFailedWAL != nil {
		a.LastFailedWAL = *lastFailedWAL
	}
	st.Archiver = a
	return st, nil
}

// parseSeconds reads a pg_settings value in seconds ("60") or with a unit ("1min").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	units := map[string]time.Duration{"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "ms": time.Millisecond}
	for u, d := range units {
		if len(v) > len(u) && v[len(v)-len(u):] == u {
			if n, err := strconv.Atoi(v[:len(v)-len(u)]); err == nil {
				return time.Duration(n) * d, nil
			}
		}
	}
	return 0, fmt.Errorf("cannot parse %q as seconds", v)
}

// ApplyArchive sets what differs through ALTER SYSTEM and reloads.
// wal_level is only ever raised (minimal → replica), never lowered from
// logical. It returns the state after the reload.
func ApplyArchive(ctx context.Context, p *pgxpool.Pool, want ArchiveSettings) (ArchiveState, error) {
	cur, err := ReadArchive(ctx, p)
	if err != nil {
		return cur, err
	}
	set := func(name, value string) error {
		// NOTE: ALTER SYSTEM takes no bind parameters; quote the literal.
		_, err := p.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = %s", pgx.Identifier{name}.Sanitize(), quoteLiteral(value)))
		if err != nil {
			return fmt.Errorf("ALTER SYSTEM SET %s: %w", name, classify(p, err))
		}
		return nil
	}
	if cur.Settings.WALLevel != "replica" && cur.Settings.WALLevel != "logical" {
		if err := set("wal_level", "replica"); err != nil {
			return cur, err
		}
	}
	if cur.Settings.ArchiveMode != want.ArchiveMode {
		if err := set("archive_mode", want.ArchiveMode); err != nil {
			return cur, err
		}
	}
	if cur.Settings.ArchiveCommand != want.ArchiveCommand {
		if err := set("archive_command", want.ArchiveCommand); err != nil {
			return cur, err
		}
	}
	if cur.Settings.ArchiveTimeout != want.ArchiveTimeout {
		if err := set("archive_timeout", strconv.Itoa(int(want.ArchiveTimeout/time.Second))); err != nil {
			return cur, err
		}
	}
	if _, err := p.Exec(ctx, "select pg_reload_conf()"); err != nil {
		return cur, classify(p, err)
	}
	// The reload is asynchronous: give the postmaster a moment before
	// reading pending_restart back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := ReadArchive(ctx, p)
		if err != nil || time.Now().After(deadline) || st.Settings.ArchiveCommand == want.ArchiveCommand && reloaded(ctx, p, want) {
			return st, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func reloaded(ctx context.Context, p *pgxpool.Pool, want ArchiveSettings) bool {
	var cmd string
	if err := p.QueryRow(ctx, "select setting from pg_settings where name = 'archive_command'").Scan(&cmd); err != nil {
		return false
	}
	return cmd == want.ArchiveCommand
}

// ResetArchiveCommand points archive_command at a command that fails,
// keeping archive_mode on, so PostgreSQL retains WAL instead of discarding
// it. Used when a wal_archive is destroyed.
func ResetArchiveCommand(ctx context.Context, p *pgxpool.Pool, command string) error {
	if _, err := p.Exec(ctx, "ALTER SYSTEM SET archive_command = "+quoteLiteral(command)); err != nil {
		return classify(p, err)
	}
	if _, err := p.Exec(ctx, "select pg_reload_conf()"); err != nil {
		return classify(p, err)
	}
	return nil
}

// SwitchWAL forces a WAL switch and returns the name of the segment it
// completed (the one that must reach the archive).
func SwitchWAL(ctx context.Context, p *pgxpool.Pool) (string, error) {
	var name string
	// A switch with no WAL written since the last one does nothing; write
	// a little first so there is always a fresh segment to archive.
	if _, err := p.Exec(ctx, "select pg_logical_emit_message(false, 'lifeboat', 'verify')"); err != nil {
		return "", classify(p, err)
	}
	if err := p.QueryRow(ctx, "select pg_walfile_name(pg_switch_wal())").Scan(&name); err != nil {
		return "", classify(p, err)
	}
	return name, nil
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// OldestReady reports the oldest WAL file waiting for the archiver (a .ready
// status file) and how many wait. n is 0 when nothing waits.
func OldestReady(ctx context.Context, p *pgxpool.Pool) (oldest time.Time, n int, err error) {
	var t *time.Time
	err = p.QueryRow(ctx, `select min(modification), count(*) from pg_ls_archive_statusdir() where name like '%.ready'`).Scan(&t, &n)
	if err != nil {
		return time.Time{}, 0, classify(p, err)
	}
	if t != nil {
		oldest = *t
	}
	return oldest, n, nil
}

// HistoryFiles reads the timeline history files in the server's pg_wal
// (name -> content). A server promoted while it did not archive never
// archived them, and a restore cannot follow its timeline without them.
// It needs the rights of pg_ls_waldir and pg_read_binary_file (superuser,
// or pg_monitor and pg_read_server_files).
func HistoryFiles(ctx context.Context, p *pgxpool.Pool) (map[string][]byte, error) {
	rows, err := p.Query(ctx, `select name, pg_read_binary_file('pg_wal/' || name)
		from pg_ls_waldir() where name ~ '^[0-9A-F]{8}\.history$' order by name`)
	if err != nil {
		return nil, classify(p, err)
	}
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var body []byte
		if err := rows.Scan(&name, &body); err != nil {
			rows.Close()
			return nil, classify(p, err)
		}
		out[name] = body
	}
	if err := rows.Err(); err != nil {
		return nil, classify(p, err)
	}
	return out, nil
}
