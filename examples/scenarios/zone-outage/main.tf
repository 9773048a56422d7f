# Zone outage: the primary's zone went dark, the streaming standby was
# promoted and archives into the same repository on timeline 2. This
# restores the cluster to a point after the promotion: the restore follows
# timeline 1, then 2 at the switch, from a backup taken before the outage.
# See README.md.

variable "repository_bucket" { type = string }
variable "agent_path" {
  type    = string
  default = "/usr/local/bin/lifeboat"
}
# A time after the promotion (RFC 3339).
variable "point_in_time" { type = string }
variable "data_directory" { type = string }
variable "port" {
  type    = number
  default = 5499
}

resource "lifeboat_restore" "after_failover" {
  kind          = "cluster"
  point_in_time = var.point_in_time
  # The newest timeline in the archive: the promoted standby's.
  recovery_target_timeline = "latest"
  agent_path               = var.agent_path

  cluster = "odoo-main"
  repository {
    bucket = var.repository_bucket
    prefix = "pg"
  }
  target {
    data_directory = var.data_directory
    port           = var.port
  }

  # Written on the old primary and never archived by it (its archiver was
  # cut off first): only the standby's archive_mode = always kept it.
  check {
    name     = "written_before_the_outage"
    sql      = "SELECT count(*) FROM orders WHERE note = 'before-outage'"
    expected = "5"
  }
  # Written on the promoted standby, before the point.
  check {
    name     = "written_after_the_promotion"
    sql      = "SELECT count(*) FROM orders WHERE note = 'after-promotion'"
    expected = "3"
  }
}

output "timeline" {
  value = lifeboat_restore.after_failover.timeline
}
output "wal_range" {
  value = lifeboat_restore.after_failover.wal_range
}
output "restored_to" {
  value = lifeboat_restore.after_failover.restored_to_time
}
