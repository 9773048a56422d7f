# The backup repository: nothing in it can be deleted for 30 days, by anyone.
resource "lifeboat_immutable_bucket" "repository" {
  name = "acme-odoo-backups"

  retention {
    mode = "COMPLIANCE"
    days = 30
  }

  encryption {
    algorithm = "AES256"
  }

  # One tier per data class. Expirations may not be shorter than the lock.
  lifecycle_tier {
    name                               = "transactional"
    prefix                             = "pg/"
    expiration_days                    = 35
    noncurrent_version_expiration_days = 35
  }

  lifecycle_tier {
    name                               = "attachments"
    prefix                             = "attachments/"
    noncurrent_version_expiration_days = 90
  }

  lifecycle_tier {
    name            = "audit"
    prefix          = "audit/"
    expiration_days = 2555 # seven years
  }

  lifecycle_tier {
    name                               = "config"
    prefix                             = "config/"
    noncurrent_version_expiration_days = 365
  }

  tags = {
    owner      = "platform"
    data-class = "backup"
    compliance = "iso27001"
  }
}
