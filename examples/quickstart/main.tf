# Lifeboat quickstart: the recovery posture of one Odoo platform, against the
# local services `make demo` starts. The provider reads the object store's
# endpoint and credentials from the environment the demo exports.
terraform {
  required_providers {
    lifeboat = {
      source = "lifeboat-dr/lifeboat"
    }
  }
}

provider "lifeboat" {}

variable "repository_bucket" {
  description = "Name of the backup repository bucket."
  type        = string
  default     = "lifeboat-demo-repository"
}

# The repository: WORM (object lock), versioned, encrypted, with a lifecycle
# tier per data class.
resource "lifeboat_immutable_bucket" "repository" {
  name          = var.repository_bucket
  force_destroy = true # demo only: lets `terraform destroy` empty it

  retention {
    mode = "GOVERNANCE"
    days = 7
  }

  encryption {
    algorithm = "AES256"
  }

  lifecycle_tier {
    name                               = "transactional"
    prefix                             = "pg/"
    noncurrent_version_expiration_days = 14
  }

  lifecycle_tier {
    name                               = "attachments"
    prefix                             = "attachments/"
    noncurrent_version_expiration_days = 30
  }

  lifecycle_tier {
    name            = "audit"
    prefix          = "audit/"
    expiration_days = 365
  }

  lifecycle_tier {
    name                               = "config"
    prefix                             = "config/"
    noncurrent_version_expiration_days = 90
  }

  tags = {
    environment = "demo"
    owner       = "platform"
  }
}

output "repository_bucket" {
  value = lifeboat_immutable_bucket.repository.name
}

output "repository_posture" {
  value = {
    versioning = lifeboat_immutable_bucket.repository.versioning
    retention  = "${lifeboat_immutable_bucket.repository.retention.mode} ${lifeboat_immutable_bucket.repository.retention.days} days"
    encryption = lifeboat_immutable_bucket.repository.encryption.algorithm
    tiers      = sort([for t in lifeboat_immutable_bucket.repository.lifecycle_tier : t.name])
  }
}

variable "pg_dsn" {
  description = "Connection string of the demo PostgreSQL (the demo exports TF_VAR_pg_dsn)."
  type        = string
  sensitive   = true
}

variable "agent_path" {
  description = "Path of the lifeboat agent binary on the database host."
  type        = string
}

variable "agent_config_path" {
  description = "Where the agent configuration file goes on the database host."
  type        = string
}

variable "writer_access_key" {
  description = "Access key of the writer identity the agent uses (the demo creates it from the writer's lifeboat_access_policy document). Null: the AWS default credential chain on the database host."
  type        = string
  default     = null
}

variable "writer_secret_key" {
  description = "Secret key of that writer identity."
  type        = string
  default     = null
  sensitive   = true
}

# What the agent may do, and what it may never do, as the policy document
# the writer identity was created from.
data "lifeboat_access_policy" "writer" {
  role    = "writer"
  bucket  = lifeboat_immutable_bucket.repository.name
  prefix  = "pg"
  cluster = "odoo-main"
}

# Continuous WAL archiving of the demo cluster into the repository. The demo
# runs Terraform on the database host, so the provider writes the agent's
# configuration file itself (manage_agent_config_file), with the writer's
# keys, never the provider's. The WAL compression (and encryption, when
# declared) reach wal-push through the repository's signed WAL settings.
resource "lifeboat_wal_archive" "main" {
  cluster = "odoo-main"
  rpo     = "1m"

  postgres {
    dsn = var.pg_dsn
  }

  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  agent_path               = var.agent_path
  agent_config_path        = var.agent_config_path
  manage_agent_config_file = true

  dynamic "agent_credentials" {
    for_each = var.writer_access_key == null ? [] : [var.writer_access_key]
    content {
      access_key = var.writer_access_key
      secret_key = var.writer_secret_key
    }
  }
}

output "wal_archive" {
  value = {
    archive_command  = lifeboat_wal_archive.main.archive_command
    archive_timeout  = lifeboat_wal_archive.main.archive_timeout
    pending_restart  = lifeboat_wal_archive.main.pending_restart
    verified_segment = lifeboat_wal_archive.main.verified_segment
    verified_at      = lifeboat_wal_archive.main.verified_at
  }
}

variable "tenant_databases" {
  description = "One Odoo database per tenant (the demo seeds them)."
  type        = list(string)
  default     = ["acme_logistics", "globex_freight", "initech_cargo"]
}

# Nightly base backups plus a logical dump per tenant, run by `lifeboat agent`;
# the first one is taken during this apply.
resource "lifeboat_backup_policy" "main" {
  cluster          = lifeboat_wal_archive.main.cluster
  schedule         = "0 2 * * *"
  tenant_databases = var.tenant_databases
  rpo              = "1m"
  rto              = "2h" # daily backups replay at most 24h of WAL: at 12x, 2h
  backup_on_create = true

  postgres {
    dsn = var.pg_dsn
  }

  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  retention {
    full_count = 7
    days       = 14
  }

  tier {
    name           = "transactional"
    retention_days = 30
  }
}

data "lifeboat_recovery_points" "main" {
  cluster = lifeboat_backup_policy.main.cluster
  repository = {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }
}

output "recovery_points" {
  value = {
    backups = [for b in data.lifeboat_recovery_points.main.backups : "${b.kind} ${coalesce(b.database, "-")} ${b.id} (${b.size} bytes)"]
    window  = data.lifeboat_recovery_points.main.window
  }
}

variable "drill_scratch_dir" {
  description = "Where drills lay out their throw-away data directories."
  type        = string
  default     = "/tmp"
}

# A nightly restore test of the whole cluster: restore the newest recovery
# point into a scratch directory, check it, measure the RTO, keep locked
# evidence. One drill runs during this apply; a failure fails the apply.
resource "lifeboat_drill_schedule" "nightly" {
  name                    = "nightly-cluster"
  schedule                = "30 3 * * *"
  kind                    = "cluster"
  rto_target              = "5m"
  run_on_apply            = true
  evidence_retention_days = 1 # demo only; audits want a year or more
  agent_path              = var.agent_path
  scratch_dir             = var.drill_scratch_dir

  cluster = lifeboat_backup_policy.main.cluster
  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  check {
    name     = "pickings_present"
    kind     = "row_count_floor"
    database = "acme_logistics"
    sql      = "SELECT count(*) FROM stock_picking"
    expected = "500"
  }

  check {
    name     = "restored_point_fresh"
    kind     = "rpo"
    expected = "15m"
  }
}

output "drill" {
  value = {
    result       = lifeboat_drill_schedule.nightly.last_drill_result
    achieved_rto = "${lifeboat_drill_schedule.nightly.last_achieved_rto_seconds}s (target ${lifeboat_drill_schedule.nightly.rto_target})"
    evidence     = "s3://${lifeboat_immutable_bucket.repository.name}/${lifeboat_drill_schedule.nightly.last_evidence_key}"
  }
}

variable "restore_point_in_time" {
  description = "Set to an RFC 3339 time to restore tenant acme_logistics, with its attachments, to that point beside the live one."
  type        = string
  default     = null
}

variable "filestore_bucket" {
  description = "The Odoo filestore bucket holding the tenants' attachments."
  type        = string
  default     = "lifeboat-demo-filestore"
}

# A tenant restore as a planned change: `terraform plan` names the recovery
# point before anyone approves it.
resource "lifeboat_restore" "acme" {
  count         = var.restore_point_in_time == null ? 0 : 1
  kind          = "tenant"
  point_in_time = var.restore_point_in_time
  agent_path    = var.agent_path

  cluster = lifeboat_backup_policy.main.cluster
  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  target {
    source_database = "acme_logistics"
    database        = "acme_logistics_restored"
  }

  postgres {
    dsn = var.pg_dsn
  }

  attachments {
    bucket        = var.filestore_bucket
    source_prefix = "filestore/acme_logistics/"
    target_prefix = "filestore/acme_logistics_restored/"
  }

  check {
    name     = "pickings_back"
    sql      = "SELECT count(*) FROM stock_picking"
    expected = "500"
  }
}

output "restore" {
  value = length(lifeboat_restore.acme) == 0 ? null : {
    restored_database   = lifeboat_restore.acme[0].id
    recovery_source     = lifeboat_restore.acme[0].recovery_source
    restored_to         = lifeboat_restore.acme[0].restored_to_time
    attachments         = "s3://${var.filestore_bucket}/filestore/acme_logistics_restored/"
    missing_attachments = lifeboat_restore.acme[0].missing_attachments
    checks              = lifeboat_restore.acme[0].check_results
    duration_seconds    = lifeboat_restore.acme[0].duration_seconds
  }
}

# The agent executor: a whole-cluster restore rehearsal performed by the
# agent on the database host, not by the machine running Terraform. The
# provider writes a signed request into the repository; the agent whose host
# name is agent_host claims it, restores and starts the copy there, and its
# progress and result come back through the repository. Terraform could run
# in CI with no PostgreSQL at all. Removing it (rehearsal_dir = null) is a
# request to the agent too.
variable "agent_host" {
  description = "Host name the database host's agent runs as (`lifeboat agent --host`, or `host` in its bootstrap file). Null: no agent executor."
  type        = string
  default     = null
}

variable "rehearsal_dir" {
  description = "Data directory on the database host for the agent's cluster restore rehearsal (null: none)."
  type        = string
  default     = null
}

variable "rehearsal_port" {
  description = "Port the rehearsal's restored server listens on, on the database host."
  type        = number
  default     = 55433
}

resource "lifeboat_restore" "rehearsal" {
  count         = var.agent_host == null || var.rehearsal_dir == null ? 0 : 1
  kind          = "cluster"
  agent         = var.agent_host
  claim_timeout = "2m"

  cluster = lifeboat_backup_policy.main.cluster
  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  target {
    data_directory = var.rehearsal_dir
    port           = var.rehearsal_port
  }

  check {
    name     = "tenant_present"
    sql      = "SELECT count(*) FROM pg_database WHERE datname = 'acme_logistics'"
    expected = "1"
  }
}

output "rehearsal" {
  value = length(lifeboat_restore.rehearsal) == 0 ? null : {
    executed_by      = var.agent_host
    request          = lifeboat_restore.rehearsal[0].request
    data_directory   = lifeboat_restore.rehearsal[0].id
    recovery_source  = lifeboat_restore.rehearsal[0].recovery_source
    checks           = lifeboat_restore.rehearsal[0].check_results
    duration_seconds = lifeboat_restore.rehearsal[0].duration_seconds
  }
}

# Redis: Odoo's HTTP sessions live in one instance, a page cache in
# another. Losing sessions logs every user out, so that instance is
# persisted and restored; the cache is rebuilt, so it writes nothing to disk.
variable "redis_sessions_addr" {
  description = "host:port of the Redis holding HTTP sessions (null: not declared)."
  type        = string
  default     = null
}

variable "redis_cache_addr" {
  description = "host:port of the Redis used as a cache (null: not declared)."
  type        = string
  default     = null
}

resource "lifeboat_redis_persistence" "sessions" {
  count = var.redis_sessions_addr == null ? 0 : 1
  class = "session"
  redis {
    address = var.redis_sessions_addr
  }
}

resource "lifeboat_redis_persistence" "cache" {
  count = var.redis_cache_addr == null ? 0 : 1
  class = "cache"
  redis {
    address = var.redis_cache_addr
  }
}

output "redis" {
  value = {
    sessions = length(lifeboat_redis_persistence.sessions) == 0 ? null : {
      decision    = lifeboat_redis_persistence.sessions[0].decision
      appendonly  = lifeboat_redis_persistence.sessions[0].appendonly
      save        = lifeboat_redis_persistence.sessions[0].save
      config_file = lifeboat_redis_persistence.sessions[0].config_file
    }
    cache = length(lifeboat_redis_persistence.cache) == 0 ? null : {
      decision   = lifeboat_redis_persistence.cache[0].decision
      appendonly = lifeboat_redis_persistence.cache[0].appendonly
    }
  }
}
