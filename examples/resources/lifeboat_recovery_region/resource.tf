# The recovery region's own store: a provider aliased to the other region.
provider "lifeboat" {
  alias    = "dr"
  endpoint = "https://s3.eu-central-2.example.com"
  region   = "eu-central-2"
}

resource "lifeboat_immutable_bucket" "dr" {
  provider = lifeboat.dr
  name     = "acme-odoo-backups-dr"

  # At least the source's retention: plan refuses a shorter one.
  retention {
    mode = "COMPLIANCE"
    days = 30
  }
}

resource "lifeboat_recovery_region" "eu2" {
  source {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
  destination {
    bucket   = lifeboat_immutable_bucket.dr.name
    endpoint = "https://s3.eu-central-2.example.com"
    region   = "eu-central-2"
    # Credentials as the provider's own (or the AWS credential chain). The
    # agent copies with the writer keys of its configuration's stores["dr"].
    agent_store = "dr"
  }
  clusters = ["odoo-main"]
  max_lag  = "15m"
  interval = "1m"

  # Business-priority order in which the region is brought up.
  activation {
    group {
      name    = "warehouse"
      tenants = ["acme_logistics", "globex"]
      rto     = "30m"
    }
    group {
      name    = "transport"
      tenants = ["initech_cargo"]
      rto     = "2h"
    }
    group {
      name    = "finance"
      tenants = ["acme_finance"]
      rto     = "8h"
    }
  }
}

output "regional_runbook" {
  value = lifeboat_recovery_region.eu2.runbook
}
