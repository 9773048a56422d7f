output "database" {
  description = "The tenant's database: the root module puts every tenant's into the cluster's lifeboat_backup_policy tenant_databases."
  value       = local.database
}

output "priority_group" {
  description = "The tenant's business-priority group (for lifeboat_recovery_region activation groups)."
  value       = var.priority_group
}

output "attachments_prefix" {
  description = "Where the tenant's attachments live (null without an attachments bucket)."
  value       = local.has_attachments ? "s3://${var.attachments_bucket}/${local.attachments_prefix}" : null
}

output "drill_id" {
  description = "The drill schedule (<cluster>/tenant-<name>)."
  value       = lifeboat_drill_schedule.tenant.id
}

output "last_drill" {
  description = "The tenant's last drill as the agent recorded it: result, when, achieved RTO and what failed (null before the first drill)."
  value = lifeboat_drill_schedule.tenant.last_drill_result == null ? null : {
    result       = lifeboat_drill_schedule.tenant.last_drill_result
    time         = lifeboat_drill_schedule.tenant.last_drill_time
    rto_seconds  = lifeboat_drill_schedule.tenant.last_achieved_rto_seconds
    failures     = lifeboat_drill_schedule.tenant.last_failures
    evidence_key = lifeboat_drill_schedule.tenant.last_evidence_key
  }
}

output "summary" {
  description = "One line a reviewer reads: the tenant's database, objectives, group and drill."
  value       = "${var.name}: database ${local.database}, RPO ${var.rpo}, RTO ${var.rto}, group ${var.priority_group}, drill ${var.drill_schedule}${local.has_attachments ? ", attachments s3://${var.attachments_bucket}/${local.attachments_prefix}" : ""}"
}
