# One output, an object, rather than one output per field: while planning,
# Terraform 1.5 finds each module instance's recorded output among every
# output recorded for the module call so far, so the plan's cost of the
# outputs grows with (instances × outputs)². At 500 tenants six outputs
# cost Terraform several CPU seconds per plan; one costs a thirty-sixth of
# that (tools/scripts/bench-plan.sh measures it).
output "posture" {
  description = <<-EOT
    The tenant's posture, one object a reviewer reads:
    database (the root module puts every tenant's into the cluster's lifeboat_backup_policy tenant_databases),
    priority_group (for lifeboat_recovery_region activation groups),
    attachments (s3://bucket/prefix of the tenant's attachments; null without an attachments bucket),
    drill_id (<cluster>/tenant-<name>),
    last_drill (the last drill as the agent recorded it: result, time, rto_seconds, failures, evidence_key; null before the first drill),
    summary (one line: the tenant's database, objectives, group and drill).
  EOT
  value = {
    database       = local.database
    priority_group = var.priority_group
    attachments    = local.has_attachments ? "s3://${var.attachments_bucket}/${local.attachments_prefix}" : null
    drill_id       = lifeboat_drill_schedule.tenant.id
    last_drill = lifeboat_drill_schedule.tenant.last_drill_result == null ? null : {
      result       = lifeboat_drill_schedule.tenant.last_drill_result
      time         = lifeboat_drill_schedule.tenant.last_drill_time
      rto_seconds  = lifeboat_drill_schedule.tenant.last_achieved_rto_seconds
      failures     = lifeboat_drill_schedule.tenant.last_failures
      evidence_key = lifeboat_drill_schedule.tenant.last_evidence_key
    }
    summary = "${var.name}: database ${local.database}, RPO ${var.rpo}, RTO ${var.rto}, group ${var.priority_group}, drill ${var.drill_schedule}${local.has_attachments ? ", attachments s3://${var.attachments_bucket}/${local.attachments_prefix}" : ""}"
  }
}
