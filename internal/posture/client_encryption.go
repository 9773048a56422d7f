package posture

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// ControlClientEncryption judges client-side encryption: a credential
// that reads the bucket (a leaked writer key, a provider key, the store's
// operator) must not read the data.
const ControlClientEncryption = "backup.client_side_encryption"

func init() {
	register(Control{ID: ControlClientEncryption, Title: "Backups, WAL and Redis snapshots encrypted before upload to declared recipients",
		Scope: ScopeCluster, Standards: storageStandards, Problem: "Backups Not Encrypted Client-Side", Evaluate: clientEncryption})
}

// clientEncryption passes when the policy declares recipients and the
// newest base backup, the newest dump of every tenant, the newest WAL
// segment and the newest snapshot of every scheduled Redis instance are
// encrypted; it warns when they are encrypted to other
// recipients than the policy's (a rotation the agent has not picked up),
// and fails otherwise.
func clientEncryption(_ *Observation, c *ClusterObservation, _ Params) Finding {
	f := Finding{Threshold: "recipients declared in the policy; newest base backup, tenant dumps and WAL encrypted to them"}
	if c.CatalogErr != nil {
		return unknown(fmt.Sprintf("repository unreadable: %v", c.CatalogErr), "Give the report credentials that may list and read the repository.")
	}
	var declared *crypt.Info
	if c.Policy != nil && c.Policy.Encryption != nil {
		r, err := c.Policy.Encryption.Parse()
		if err != nil {
			f.Status, f.Observed = Fail, "policy recipients invalid: "+err.Error()
			f.Remedy = "Fix the recipients of the backup policy's encryption block."
			return f
		}
		declared = r.Info()
	}
	var plain, other, checked []string
	judge := func(what, key string, info *crypt.Info) {
		checked = append(checked, what)
		f.Evidence = append(f.Evidence, Evidence{Key: key, Note: what + ": " + info.String()})
		switch {
		case info == nil:
			plain = append(plain, what)
		case declared != nil && info.SetID() != declared.SetID():
			other = append(other, what)
		}
	}
	if n := len(c.Catalog.Physical); n > 0 {
		m := c.Catalog.Physical[n-1]
		judge("base backup "+m.ID, c.Layout.BackupManifestKey(m.ID), m.Encryption)
	}
	newestDump := map[string]int{}
	for i, m := range c.Catalog.Tenant {
		if j, ok := newestDump[m.Database]; !ok || m.StartTime.After(c.Catalog.Tenant[j].StartTime) {
			newestDump[m.Database] = i
		}
	}
	for _, db := range slices.Sorted(maps.Keys(newestDump)) {
		m := c.Catalog.Tenant[newestDump[db]]
		judge("dump "+m.ID+" of "+db, c.Layout.TenantManifestKey(db, m.ID), m.Encryption)
	}
	// Redis snapshots hold sessions and queues: the same credential that
	// must not read the database must not read them either. Only restored
	// instances (session, queue) have a schedule and so snapshots.
	for _, ro := range c.Redis {
		if m := ro.Newest; m != nil {
			judge("Redis snapshot "+m.ID+" of "+m.Instance, c.Layout.RedisManifestKey(m.Instance, m.ID), m.Encryption)
		}
	}
	if c.NewestWALKey != "" {
		k, _ := repo.ParseWALKey(c.NewestWALKey)
		// NOTE: a WAL key names its recipient set, not the recipients: it
		// is compared by set id.
		checked = append(checked, "WAL segment "+k.Name)
		f.Evidence = append(f.Evidence, Evidence{Key: c.NewestWALKey, Note: "newest WAL segment, recipient set " + orNone(k.RecipientSet)})
		switch {
		case k.RecipientSet == "":
			plain = append(plain, "WAL segment "+k.Name)
		case declared != nil && k.RecipientSet != declared.SetID():
			other = append(other, "WAL segment "+k.Name)
		}
	}
	switch {
	case len(plain) > 0:
		f.Status, f.Observed = Fail, "not encrypted: "+strings.Join(plain, ", ")
		f.Remedy = "Declare encryption { recipients = [...] } on lifeboat_wal_archive and lifeboat_backup_policy (age public keys; the restorer keeps the identities), so the database host (and the agent snapshotting Redis) encrypts before upload."
	case declared == nil:
		f.Status, f.Observed = Fail, "no recipients declared in the backup policy"
		if len(checked) > 0 {
			f.Observed += " (newest objects encrypted by the agent configuration's)"
		}
		f.Remedy = "Declare encryption { recipients = [...] } on lifeboat_backup_policy, so the signed policy says what backups are encrypted to."
	case len(checked) == 0:
		f.Status, f.Observed = Unknown, "recipients declared ("+strings.Join(declared.Recipients, ", ")+"), nothing backed up yet"
	case len(other) > 0:
		f.Status, f.Observed = Warn, "encrypted to other recipients than declared: "+strings.Join(other, ", ")
		f.Remedy = "The agent has not taken a backup (or archived WAL) with the declared recipients yet: check that it runs the current policy and agent configuration."
	default:
		f.Status, f.Observed = Pass, "encrypted to "+strings.Join(declared.Recipients, ", ")
	}
	return f
}
