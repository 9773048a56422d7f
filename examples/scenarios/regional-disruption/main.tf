# Regional cloud disruption: the repository is copied, verified, into a
# second region; the runbook says in which order the business comes back,
# from which recovery point, losing how much. See README.md.

terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

variable "source_bucket" {
  type    = string
  default = "acme-odoo-backups"
}

variable "dr_bucket" {
  type    = string
  default = "acme-odoo-backups-dr"
}

variable "dr_endpoint" {
  type    = string
  default = "https://s3.eu-central-2.example.com"
}

variable "dr_region" {
  type    = string
  default = "eu-central-2"
}

variable "dr_access_key" {
  type    = string
  default = null
}

variable "dr_secret_key" {
  type      = string
  default   = null
  sensitive = true
}

variable "retention_mode" {
  type    = string
  default = "COMPLIANCE"
}

variable "retention_days" {
  type    = number
  default = 30
}

# The primary region: the provider's own store (environment or provider block).
provider "lifeboat" {}

# The recovery region's store.
provider "lifeboat" {
  alias      = "dr"
  endpoint   = var.dr_endpoint
  region     = var.dr_region
  access_key = var.dr_access_key
  secret_key = var.dr_secret_key
  path_style = true
}

resource "lifeboat_immutable_bucket" "repository" {
  name          = var.source_bucket
  force_destroy = true
  retention {
    mode = var.retention_mode
    days = var.retention_days
  }
}

# The copy's bucket keeps it at least as long as the source does.
resource "lifeboat_immutable_bucket" "dr" {
  provider      = lifeboat.dr
  name          = var.dr_bucket
  force_destroy = true
  retention {
    mode = var.retention_mode
    days = var.retention_days
  }
}

resource "lifeboat_recovery_region" "eu2" {
  source {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }
  destination {
    bucket      = lifeboat_immutable_bucket.dr.name
    endpoint    = var.dr_endpoint
    region      = var.dr_region
    access_key  = var.dr_access_key
    secret_key  = var.dr_secret_key
    path_style  = true
    agent_store = "dr" # the agent's stores["dr"]: keys made from copy_policy
  }
  clusters = ["odoo-main"]
  max_lag  = "15m"
  interval = "1m"

  # Warehouse first (trucks wait at the docks), then transport, then finance.
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

# The runbook is lifeboat_recovery_region.eu2.runbook (`terraform state show`,
# or `lifeboat region activate --plan`): measured at every refresh, it is
# not an output, whose value would change with the clock on every plan.
