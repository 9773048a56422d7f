# Restore the newest snapshot of the session store into a new instance on
# this host, to inspect it or to move the application over. The plan names
# the snapshot and its age; a saved plan restores exactly that snapshot.
resource "lifeboat_redis_restore" "sessions" {
  cluster  = "odoo-main"
  instance = "sessions"
  snapshot = "latest" # or an id from data.lifeboat_recovery_points' redis_snapshots

  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  directory = "/var/lib/redis-restored/sessions"
  port      = 6390

  # The restore fails unless these hold on the restored instance.
  min_keys    = 1000
  sample_keys = ["session:health-check"]
}

output "restored_sessions" {
  value = {
    address  = lifeboat_redis_restore.sessions.address
    snapshot = lifeboat_redis_restore.sessions.snapshot_id
    age      = lifeboat_redis_restore.sessions.snapshot_age
    keys     = lifeboat_redis_restore.sessions.key_count
  }
}
