# A platform of Odoo tenants on one PostgreSQL cluster: one repository
# bucket, one backup policy over every tenant database, and one
# odoo-tenant module instance per tenant (its drill, objectives, priority
# group and attachments prefix), for_each over the tenant map.
#
# The object store's endpoint and credentials come from the environment
# (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...; see the provider's docs).

terraform {
  required_version = ">= 1.5"
  required_providers {
    lifeboat = {
      source = "lifeboat-dr/lifeboat"
    }
  }
}

provider "lifeboat" {}

variable "bucket" {
  description = "Repository bucket (created here, object-locked)."
  type        = string
}

variable "lock_mode" {
  description = "Object lock mode of the bucket: COMPLIANCE in production, GOVERNANCE for a trial."
  type        = string
  default     = "COMPLIANCE"
}

variable "retention_days" {
  description = "Days every backup object is locked, and days of point-in-time recovery the policy keeps."
  type        = number
  default     = 14
}

variable "cluster" {
  description = "The PostgreSQL cluster's name in the repository."
  type        = string
  default     = "odoo-main"
}

variable "pg_dsn" {
  description = "Connection string of the cluster (the backup role; also receives tenant drills' scratch databases)."
  type        = string
  sensitive   = true
}

variable "attachments_bucket" {
  description = "Bucket of the tenants' attachments (null: none in object storage)."
  type        = string
  default     = null
}

variable "dump_parallelism" {
  description = "Tenant dumps the agent runs at once."
  type        = number
  default     = 8
}

variable "tenants" {
  description = "The tenants, by name: objectives, priority group, drill schedule and optional database / attachments prefix."
  type = map(object({
    rpo                = optional(string, "15m")
    rto                = optional(string, "1h")
    priority_group     = optional(string, "standard")
    drill_schedule     = optional(string, "@weekly")
    database           = optional(string)
    attachments_prefix = optional(string)
  }))
}

variable "evidence_trusted_keys" {
  description = "Public keys of the agents whose drill evidence (and drill index) is trusted."
  type        = list(string)
  default     = []
}

resource "lifeboat_immutable_bucket" "repository" {
  name = var.bucket
  retention {
    mode = var.lock_mode
    days = var.retention_days
  }
  force_destroy = var.lock_mode != "COMPLIANCE"
}

module "tenant" {
  source   = "../odoo-tenant"
  for_each = var.tenants

  name               = each.key
  database           = each.value.database
  cluster            = var.cluster
  repository         = { bucket = lifeboat_immutable_bucket.repository.name, prefix = "pg" }
  postgres_dsn       = var.pg_dsn
  attachments_bucket = var.attachments_bucket
  attachments_prefix = each.value.attachments_prefix
  rpo                = each.value.rpo
  rto                = each.value.rto
  priority_group     = each.value.priority_group
  drill_schedule     = each.value.drill_schedule

  evidence_trusted_keys = var.evidence_trusted_keys
}

# The cluster's one policy: every tenant module's database is dumped with
# each scheduled backup, dump_parallelism at a time. Built here from the
# modules' outputs, so adding a tenant to the map is all it takes.
resource "lifeboat_backup_policy" "cluster" {
  cluster  = var.cluster
  schedule = "0 2 * * *"
  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }
  postgres {
    dsn = var.pg_dsn
  }
  retention {
    days = var.retention_days
  }
  tenant_databases        = [for t in module.tenant : t.posture.database]
  tenant_dump_parallelism = var.dump_parallelism
}

output "tenants" {
  description = "Each tenant's posture in one line."
  value       = { for name, t in module.tenant : name => t.posture.summary }
}

output "priority_groups" {
  description = "Tenant databases by priority group: the activation groups of a lifeboat_recovery_region."
  value = { for g in distinct([for t in module.tenant : t.posture.priority_group]) :
  g => sort([for t in module.tenant : t.posture.database if t.posture.priority_group == g]) }
}

output "failing_drills" {
  description = "Tenants whose last drill failed."
  value       = sort([for name, t in module.tenant : name if try(t.posture.last_drill.result, "") == "failed"])
}
