# In the release pipeline, before the module upgrade: a named restore point,
# with a fresh base backup and a fresh dump of the tenant the release touches.
resource "lifeboat_restore_point" "before_release" {
  name    = "before-release-2026-11-30"
  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
  postgres {
    dsn = var.pg_dsn
  }
  tenant_databases = ["acme_logistics"]
  base_backup      = true
}

# The rollback, if the release goes wrong: the tenant as it was at the point.
resource "lifeboat_restore" "rollback" {
  kind          = "tenant"
  restore_point = lifeboat_restore_point.before_release.name
  cluster       = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
  target {
    source_database = "acme_logistics"
    database        = "acme_logistics_before_release"
  }
  postgres {
    dsn = var.pg_dsn
  }
}
