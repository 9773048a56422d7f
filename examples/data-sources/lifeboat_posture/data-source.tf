# The recovery posture of the repository, judged by every control, for
# compliance reviews and for pipelines that must not apply over a broken
# recovery posture.
data "lifeboat_posture" "repository" {
  repository = {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
  clusters      = ["odoo-main"]
  postgres_dsn  = { "odoo-main" = var.pg_monitor_dsn } # WAL archiving controls
  min_lock_days = 30
  window_days   = 14
  trusted_keys  = [var.lifeboat_public_key] # policy.json and evidence must be signed
}

# A check block reports failing controls as warnings on every plan and
# apply, without blocking the run.
check "recovery_posture" {
  assert {
    condition     = data.lifeboat_posture.repository.worst != "fail"
    error_message = "Failing recovery controls: ${join(", ", data.lifeboat_posture.repository.failing)}"
  }
}

# A precondition fails the pipeline (plan exits non-zero) on any failing
# control, naming them.
output "recovery_posture" {
  value = data.lifeboat_posture.repository.worst
  precondition {
    condition     = length(data.lifeboat_posture.repository.failing) == 0
    error_message = "Failing recovery controls: ${join(", ", data.lifeboat_posture.repository.failing)}"
  }
}

# The report for a pull request comment or an audit file.
output "recovery_posture_markdown" {
  value = data.lifeboat_posture.repository.markdown
}

variable "pg_monitor_dsn" {
  type      = string
  sensitive = true
}

variable "lifeboat_public_key" {
  type = string
}
