# Every night, restore the newest recovery point of the main cluster into a
# throw-away directory, check it, measure the RTO, keep locked evidence for a
# year. The first drill runs during apply and fails the apply if it fails.
resource "lifeboat_drill_schedule" "nightly" {
  name         = "nightly-cluster"
  schedule     = "30 3 * * *"
  kind         = "cluster"
  rto_target   = "15m"
  run_on_apply = true
  scratch_dir  = "/var/lib/lifeboat/drills"

  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  check {
    name     = "pickings_present"
    kind     = "row_count_floor"
    database = "acme_logistics"
    sql      = "SELECT count(*) FROM stock_picking"
    expected = "1000"
  }

  check {
    name     = "restored_point_fresh"
    kind     = "rpo"
    expected = "15m"
  }
}

# A weekly tenant drill that also proves every attachment resolves.
resource "lifeboat_drill_schedule" "acme_weekly" {
  name     = "acme-weekly"
  schedule = "0 4 * * 0"
  kind     = "tenant"
  database = "acme_logistics"

  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  postgres {
    host     = "db-drills.internal"
    user     = "lifeboat"
    password = var.pg_password
  }

  attachments {
    bucket = "acme-odoo-filestore"
    prefix = "filestore/acme_logistics/"
  }

  check {
    name = "attachments_resolve"
    kind = "attachments"
  }
}

# Every night, the sessions Redis' newest snapshot loaded into a scratch
# redis-server: at least 1000 keys, taken at most an hour before the drill.
resource "lifeboat_drill_schedule" "sessions_redis" {
  name       = "sessions-redis-nightly"
  cluster    = "odoo-main"
  schedule   = "30 3 * * *"
  kind       = "redis"
  rto_target = "5m"

  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  redis {
    instance = "sessions"
    min_keys = 1000
    rpo      = "1h"
  }
}
