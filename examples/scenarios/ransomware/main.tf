# Ransomware / credential compromise: the database host's writer keys were
# stolen, the live database encrypted and dropped, and the repository
# attacked. Restore, in a clean room, the cluster as it was before the
# declared compromise time, reading with restorer (read-only) credentials.

variable "repository_bucket" { type = string }
variable "agent_path" {
  type    = string
  default = "/usr/local/bin/lifeboat"
}
# When the compromise began (from the incident timeline): nothing written
# into the repository after it is trusted.
variable "not_after" { type = string }
variable "restorer_access_key" { type = string }
variable "restorer_secret_key" {
  type      = string
  sensitive = true
}
variable "data_directory" {
  type    = string
  default = "/srv/cleanroom/pg"
}
variable "port" {
  type    = number
  default = 55432
}
variable "expected_invoices" {
  type    = string
  default = "500"
}

resource "lifeboat_restore" "cleanroom" {
  kind       = "cluster"
  clean_room = true
  not_after  = var.not_after
  agent_path = var.agent_path

  cluster = "erp"
  repository {
    bucket = var.repository_bucket
    prefix = "pg"
  }
  # The restorer identity (lifeboat_access_policy role = "restorer"): the
  # restore never reads, or writes, with anything else.
  credentials {
    access_key = var.restorer_access_key
    secret_key = var.restorer_secret_key
  }
  target {
    data_directory = var.data_directory
    port           = var.port
  }

  check {
    name     = "invoices_intact"
    sql      = "SELECT count(*) FROM invoices WHERE note LIKE 'invoice %'"
    expected = var.expected_invoices
  }
}

output "recovery_source" {
  value = lifeboat_restore.cleanroom.recovery_source
}
output "restored_to" {
  value = lifeboat_restore.cleanroom.restored_to_time
}
output "forensic_summary" {
  value = lifeboat_restore.cleanroom.forensic_summary
}
output "superuser" {
  value = lifeboat_restore.cleanroom.superuser
}
output "superuser_password" {
  value     = lifeboat_restore.cleanroom.superuser_password
  sensitive = true
}
