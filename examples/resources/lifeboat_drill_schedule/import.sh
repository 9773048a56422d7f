# The ID is the repository path and the schedule name:
# "<bucket>/[<prefix>/]<cluster>/<name>". The declaration (kind, checks,
# rto_target, evidence retention...) comes back from the schedule document
# the agent runs drills from; run_on_apply and agent_path take their
# defaults, and a tenant drill's postgres block comes from the configuration.
terraform import lifeboat_drill_schedule.nightly acme-wal/pg/odoo-main/nightly
