variable "name" {
  description = "Tenant name: the key of the tenant map. Names its drill schedule (tenant-<name>) and, unless database is set, its database."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,54}$", var.name))
    error_message = "name must start with a lowercase letter and hold only lowercase letters, digits and _ (at most 55 characters): it names a PostgreSQL database and a drill schedule."
  }
}

variable "database" {
  description = "The tenant's PostgreSQL database. Default: name."
  type        = string
  default     = null
  validation {
    condition     = var.database == null || can(regex("^[a-zA-Z_][a-zA-Z0-9_$-]{0,62}$", var.database))
    error_message = "database must be a PostgreSQL database name (a letter or _, then letters, digits, _, $ or -; at most 63 characters)."
  }
}

variable "cluster" {
  description = "The cluster (lifeboat_wal_archive / lifeboat_backup_policy cluster) the tenant's database lives in."
  type        = string
}

variable "repository" {
  description = "The cluster's repository: bucket and optional prefix."
  type = object({
    bucket = string
    prefix = optional(string)
  })
}

variable "postgres_dsn" {
  description = "Connection string of the server that receives the tenant drill's scratch database."
  type        = string
  sensitive   = true
}

variable "attachments_bucket" {
  description = "Bucket of the tenant's attachment objects (Odoo filestore on S3). Null: the tenant has no attachments in object storage, and the drill checks none."
  type        = string
  default     = null
}

variable "attachments_prefix" {
  description = "Key prefix of the tenant's attachments (ends with /). Default: tenants/<name>/."
  type        = string
  default     = null
  validation {
    condition     = var.attachments_prefix == null || can(regex("^([^/].*/)?$", var.attachments_prefix))
    error_message = "attachments_prefix must end with / and must not start with / (e.g. \"tenants/acme/\")."
  }
}

variable "rpo" {
  description = "Recovery point objective of the tenant: the newest point a drill restores may be at most this old (a duration such as 15m, 1h)."
  type        = string
  default     = "15m"
  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.rpo))
    error_message = "rpo must be a duration such as \"15m\" or \"1h30m\"."
  }
}

variable "rto" {
  description = "Recovery time objective of the tenant: a drill slower than this fails (a duration)."
  type        = string
  default     = "1h"
  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", var.rto))
    error_message = "rto must be a duration such as \"30m\" or \"2h\"."
  }
}

variable "priority_group" {
  description = "Business-priority group the tenant is restored with in a regional activation (e.g. warehouse, transport, finance): the group names of lifeboat_recovery_region's activation."
  type        = string
  default     = "standard"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,31}$", var.priority_group))
    error_message = "priority_group must be a lowercase name (letters, digits, -), such as \"finance\"."
  }
}

variable "drill_schedule" {
  description = "When the agent drills the tenant (cron, UTC, or @weekly). Spread tenants over the week to keep drills apart."
  type        = string
  default     = "@weekly"
}

variable "evidence_trusted_keys" {
  description = "Public keys (ed25519:...) of the agents whose drill evidence (and drill index) is trusted."
  type        = list(string)
  default     = []
}

variable "run_drill_on_apply" {
  description = "Run one drill of the tenant while applying a change to it, and fail the apply if it fails."
  type        = bool
  default     = false
}
