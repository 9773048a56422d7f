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
