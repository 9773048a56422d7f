# Nightly base backups of the main cluster, a week of them kept plus 30 days
# of point-in-time recovery, and one logical dump per tenant database.
resource "lifeboat_backup_policy" "main" {
  cluster          = "odoo-main"
  schedule         = "0 2 * * *"
  tenant_databases = ["acme_logistics", "globex_freight", "initech_cargo"]
  rpo              = "5m"
  rto              = "1h"
  backup_on_create = true

  postgres {
    host     = "db1.internal"
    user     = "lifeboat"
    password = var.pg_password
    sslmode  = "require"
  }

  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  retention {
    full_count = 7
    days       = 30
  }

  # Base backups and tenant dumps are encrypted on the database host to
  # these recipients (carried in the signed policy); restores need one of
  # their identities.
  encryption {
    recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
  }

  # Lifetimes per data class, applied as bucket lifecycle rules. A tier that
  # would expire backups the retention still needs fails at plan.
  tier {
    name           = "transactional"
    retention_days = 35
  }
  tier {
    name           = "attachments"
    retention_days = 365
  }
  tier {
    name           = "audit"
    retention_days = 2555
  }
  tier {
    name           = "config"
    retention_days = 90
  }
}
