# Accidental deletion: restore one tenant to just before the transaction that
# deleted its pickings (named by `lifeboat incident find`), into a new
# database beside the live one, with its attachments as of then.

variable "pg_dsn" {
  type      = string
  sensitive = true
}
variable "repository_bucket" { type = string }
variable "attachments_bucket" { type = string }
variable "agent_path" {
  type    = string
  default = "/usr/local/bin/lifeboat"
}
# The transaction `lifeboat incident find --database acme --table stock_picking` named.
variable "xid" { type = string }

resource "lifeboat_restore" "acme_before_deletion" {
  kind       = "tenant"
  xid        = var.xid
  inclusive  = false # stop just before that transaction commits
  agent_path = var.agent_path

  cluster = "odoo-main"
  repository {
    bucket = var.repository_bucket
    prefix = "pg"
  }
  target {
    source_database = "acme"
    database        = "acme_before_deletion"
  }
  postgres {
    dsn = var.pg_dsn
  }
  attachments {
    bucket        = var.attachments_bucket
    source_prefix = "filestore/acme/"
    target_prefix = "filestore/acme_before_deletion/"
  }

  # Odoo consistency: every picking is back, and every picking's attachment
  # row points at a file that exists (missing_attachments is empty).
  check {
    name     = "pickings"
    sql      = "SELECT count(*) FROM stock_picking"
    expected = "20"
  }
  check {
    name     = "pickings_without_attachment"
    sql      = "SELECT count(*) FROM stock_picking p WHERE NOT EXISTS (SELECT 1 FROM ir_attachment a WHERE a.res_model = 'stock.picking' AND a.res_id = p.id)"
    expected = "0"
  }
  check {
    name     = "attachments_without_picking"
    sql      = "SELECT count(*) FROM ir_attachment a WHERE a.res_model = 'stock.picking' AND NOT EXISTS (SELECT 1 FROM stock_picking p WHERE p.id = a.res_id)"
    expected = "0"
  }
}

output "restored_to" {
  value = lifeboat_restore.acme_before_deletion.restored_to_time
}
output "missing_attachments" {
  value = lifeboat_restore.acme_before_deletion.missing_attachments
}
