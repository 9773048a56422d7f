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

# Continuous WAL archiving of the demo cluster into the repository. The demo
# runs Terraform on the database host, so the provider writes the agent's
# configuration file itself (manage_agent_config_file).
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
