# Release rollback: a restore point before an Odoo module upgrade, recorded
# with the tenant's schema and module versions; when the upgrade's
# migration breaks the tenant, a rollback restores it as of the point into
# a new database beside the live one, and its plan shows what the rollback
# undoes (compatibility_review). See README.md.

terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

variable "pg_dsn" {
  type      = string
  sensitive = true
}
variable "repository_bucket" { type = string }
variable "agent_path" {
  type    = string
  default = "/usr/local/bin/lifeboat"
}
# One name per release: recovery stops at the first point of a name.
variable "release" {
  type    = string
  default = "before-sale-16.0.2.0"
}
# false in the release pipeline; true when the release must be rolled back.
variable "rollback" {
  type    = bool
  default = false
}

# In the release pipeline, before the upgrade runs.
resource "lifeboat_restore_point" "before_upgrade" {
  name    = var.release
  cluster = "odoo-main"
  repository {
    bucket = var.repository_bucket
    prefix = "pg"
  }
  postgres {
    dsn = var.pg_dsn
  }
  # Dumped, and its schema and ir_module_module recorded, at the point.
  tenant_databases = ["acme"]
}

# The rollback: acme as of the point, beside the live (broken) acme.
resource "lifeboat_restore" "rollback" {
  count         = var.rollback ? 1 : 0
  kind          = "tenant"
  restore_point = lifeboat_restore_point.before_upgrade.name
  agent_path    = var.agent_path

  cluster = "odoo-main"
  repository {
    bucket = var.repository_bucket
    prefix = "pg"
  }
  target {
    source_database = "acme"
    database        = "acme_before_upgrade"
  }
  postgres {
    dsn = var.pg_dsn
  }

  # The modules are back at their versions of the point.
  check {
    name     = "sale_module_version"
    sql      = "SELECT latest_version FROM ir_module_module WHERE name = 'sale'"
    expected = "16.0.1.0"
  }
  # The amounts the migration rounded have their cents again.
  check {
    name     = "order_total"
    sql      = "SELECT sum(amount)::text FROM sale_order"
    expected = "2521.00"
  }
}

output "compatibility_review" {
  value = var.rollback ? lifeboat_restore.rollback[0].compatibility_review : null
}
