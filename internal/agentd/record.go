package agentd

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// PutRecord writes a small record that agents rewrite often (a request's
// progress, a heartbeat) at key with the same safety rule as leases and
// job records (see putShortLived): each version is locked for retain only,
// and the versions it replaced are left to the backup policy's agent.*
// lifecycle rules. With
// ifAbsent the put is conditional, and a taken key wraps
// objectstore.ErrExists.
func PutRecord(ctx context.Context, store objectstore.Store, key string, body []byte, ifAbsent bool, retain time.Duration) error {
	return putShortLived(ctx, store, key, body, ifAbsent, retain)
}

// PutSignedRecord is PutRecord (unconditional) for a record readers judge
// by its signature (a probe's verdict, a recovery region's status): signed
// by signer (nil: unsigned) over key and body, as repo.ReadDoc's readers
// check it with signature.Trust.Signed.
func PutSignedRecord(ctx context.Context, store objectstore.Store, key string, body []byte, retain time.Duration, signer *signature.Signer) error {
	return putShortLivedMeta(ctx, store, key, body, false, retain, signer.Sign(key, body, nil))
}

// DSN is the PostgreSQL connection the daemon's jobs use now: Config.DSN,
// else the one built from the policy last read (password from PGPASSWORD
// or ~/.pgpass). Requests executed beside the daemon use it too.
func (d *Daemon) DSN() string {
	d.mu.Lock()
	p := d.policy
	d.mu.Unlock()
	return d.dsn(p)
}
