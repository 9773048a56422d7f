# Which hosts run an agent for the cluster, and whether they are alive: a
# restore addressed to a host (agent = "db-eu-1") needs one there.
data "lifeboat_agents" "main" {
  cluster = "odoo-main"
  repository = {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
}

check "restore_host_has_an_agent" {
  assert {
    condition     = contains(data.lifeboat_agents.main.live_hosts, "db-eu-1")
    error_message = "No live Lifeboat agent on db-eu-1: restores addressed to it would wait and fail."
  }
}
