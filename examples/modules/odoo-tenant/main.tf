# One Odoo tenant's recovery posture: its restore drill (a scratch copy of
# its database, checked against its RPO and its attachments, timed against
# its RTO) and what the platform needs to know about it: the database the
# cluster's backup policy dumps, its attachments prefix and its priority
# group. The policy itself is the cluster's, declared once in the root
# module from every tenant's `posture.database` output (see README.md).

locals {
  database           = coalesce(var.database, var.name)
  attachments_prefix = coalesce(var.attachments_prefix, "tenants/${var.name}/")
  has_attachments    = var.attachments_bucket != null
}

resource "lifeboat_drill_schedule" "tenant" {
  name     = "tenant-${var.name}"
  cluster  = var.cluster
  schedule = var.drill_schedule
  kind     = "tenant"
  database = local.database

  repository {
    bucket = var.repository.bucket
    prefix = var.repository.prefix
  }

  postgres {
    dsn = var.postgres_dsn
  }

  dynamic "attachments" {
    for_each = local.has_attachments ? [1] : []
    content {
      bucket = var.attachments_bucket
      prefix = local.attachments_prefix
    }
  }

  check {
    name     = "rpo"
    kind     = "rpo"
    expected = var.rpo
  }

  dynamic "check" {
    for_each = local.has_attachments ? [1] : []
    content {
      name = "attachments"
      kind = "attachments"
    }
  }

  rto_target            = var.rto
  run_on_apply          = var.run_drill_on_apply
  evidence_trusted_keys = length(var.evidence_trusted_keys) > 0 ? var.evidence_trusted_keys : null
}
