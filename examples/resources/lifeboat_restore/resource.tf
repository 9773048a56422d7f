# Someone deleted shipments at 09:42. Restore the cluster to 09:41 beside the
# live one, and check the rows are back before anyone copies them over.
# `terraform plan` names the base backup and WAL range this will use.
resource "lifeboat_restore" "before_incident" {
  kind          = "cluster"
  point_in_time = "2026-11-25T09:41:00Z"

  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  target {
    data_directory = "/var/lib/lifeboat/restores/before-incident"
    port           = 5499
  }

  check {
    name     = "shipments_present"
    sql      = "SELECT count(*) > 0 FROM stock_picking WHERE create_date < '2026-11-25 09:41'"
    expected = "true"
  }
}

# One tenant to a point in time, into a new database beside the live one,
# with its attachments as they were then.
resource "lifeboat_restore" "acme_yesterday" {
  kind          = "tenant"
  point_in_time = "2026-11-24T18:00:00Z"

  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }

  target {
    source_database = "acme_logistics"
    database        = "acme_logistics_restored"
  }

  postgres {
    host     = "db1.internal"
    user     = "lifeboat"
    password = var.pg_password
  }

  attachments {
    bucket        = "acme-odoo-filestore"
    source_prefix = "filestore/acme_logistics/"
    target_prefix = "filestore/acme_logistics_restored/"
  }
}
