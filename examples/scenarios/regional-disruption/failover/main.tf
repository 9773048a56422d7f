# The day the primary region is gone: the platform is rebuilt in the
# recovery region from code. Terraform talks to the region's object store
# only; the restores and the activation drill run on the agent started
# there (its configuration's bucket is the region's copy). See ../README.md.

terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
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

# The region's PostgreSQL server the drill restores scratch copies into.
variable "scratch_dsn" {
  type      = string
  default   = "postgres://lifeboat@db.eu-central-2.example.com/postgres"
  sensitive = true
}

# Where the agent lays out and starts the restored cluster.
variable "data_directory" {
  type    = string
  default = "/var/lib/postgresql/15/odoo-main"
}

variable "port" {
  type    = number
  default = 5432
}

# Appended to the restored tenant's database name (empty on a fresh server).
variable "restored_suffix" {
  type    = string
  default = ""
}

# The host of the agent started in the region (its configuration's "host").
variable "agent_host" {
  type    = string
  default = "dr-host"
}

# Only the recovery region: the primary store is not reachable.
provider "lifeboat" {
  endpoint   = var.dr_endpoint
  region     = var.dr_region
  access_key = var.dr_access_key
  secret_key = var.dr_secret_key
  path_style = true
}

locals {
  repository = { bucket = var.dr_bucket, prefix = "pg" }
}

# The activation, rehearsed and timed: the groups of the recovery region
# (warehouse, transport, finance) restored in order from the region's copy,
# each tenant into a scratch database, checked, and each group's RTO
# recorded against its target in signed evidence under lock.
resource "lifeboat_drill_schedule" "activation" {
  name                    = "regional-activation"
  schedule                = "@weekly"
  kind                    = "region"
  recovery_region         = var.dr_bucket
  agent                   = var.agent_host
  run_on_apply            = true
  evidence_retention_days = 1
  cluster                 = "odoo-main"
  repository {
    bucket = local.repository.bucket
    prefix = local.repository.prefix
  }
  postgres {
    dsn = var.scratch_dsn
  }
  check {
    name     = "orders"
    sql      = "SELECT count(*) FROM sale_order"
    expected = "3"
  }
}

# The whole cluster, restored and started by the region's agent.
resource "lifeboat_restore" "odoo_main" {
  kind          = "cluster"
  point_in_time = "latest"
  agent         = var.agent_host
  cluster       = "odoo-main"
  repository {
    bucket = local.repository.bucket
    prefix = local.repository.prefix
  }
  target {
    data_directory = var.data_directory
    port           = var.port
  }
  check {
    name     = "tenants"
    sql      = "SELECT count(*) FROM pg_database WHERE datname IN ('acme_logistics', 'globex', 'initech_cargo', 'acme_finance')"
    expected = "4"
  }
}

# The first tenant of the first group, restored by the region's agent onto
# the server it serves.
resource "lifeboat_restore" "acme_logistics" {
  kind          = "tenant"
  point_in_time = "latest"
  agent         = var.agent_host
  cluster       = "odoo-main"
  repository {
    bucket = local.repository.bucket
    prefix = local.repository.prefix
  }
  target {
    source_database = "acme_logistics"
    database        = "acme_logistics${var.restored_suffix}"
  }
  check {
    name     = "orders"
    sql      = "SELECT count(*) FROM sale_order"
    expected = "3"
  }
}
