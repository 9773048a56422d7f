package pg

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Standby is one walsender's peer in pg_stat_replication: a streaming
// standby (or pg_basebackup/pg_receivewal while they run).
type Standby struct {
	ApplicationName string
	ClientAddr      string
	State           string // streaming, catchup, startup, backup
	SyncState       string // async, sync, potential, quorum
	ReplayLSN       string
}

// Replication is a server's place in a replication set.
type Replication struct {
	// InRecovery is true on a standby (pg_is_in_recovery()).
	InRecovery bool
	// Standbys are the peers streaming from this server. A base backup's
	// WAL stream and pg_receivewal are left out: they are not standbys.
	Standbys []Standby
}

// ReadReplication reads pg_is_in_recovery() and pg_stat_replication. A role
// without pg_monitor (or pg_read_all_stats) sees the rows but not their
// client fields, which is enough to count standbys.
func ReadReplication(ctx context.Context, p *pgxpool.Pool) (Replication, error) {
	var r Replication
	if err := p.QueryRow(ctx, "select pg_is_in_recovery()").Scan(&r.InRecovery); err != nil {
		return r, classify(p, err)
	}
	rows, err := p.Query(ctx, `select coalesce(application_name, ''), coalesce(host(client_addr), 'local'), coalesce(state, ''),
	coalesce(sync_state, ''), coalesce(replay_lsn::text, '') from pg_stat_replication
	where coalesce(state, '') <> 'backup' and coalesce(application_name, '') not in ('pg_basebackup', 'pg_receivewal')
	order by application_name`)
	if err != nil {
		return r, classify(p, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Standby
		if err := rows.Scan(&s.ApplicationName, &s.ClientAddr, &s.State, &s.SyncState, &s.ReplayLSN); err != nil {
			return r, err
		}
		r.Standbys = append(r.Standbys, s)
	}
	return r, rows.Err()
}
