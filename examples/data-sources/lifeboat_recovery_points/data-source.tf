# What the main cluster can be restored from, for modules, restores and
# compliance reviews.
data "lifeboat_recovery_points" "main" {
  cluster = "odoo-main"
  repository = {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
}

output "restorable_window" {
  value = data.lifeboat_recovery_points.main.window
}

output "base_backups" {
  value = [for b in data.lifeboat_recovery_points.main.backups : b.id if b.kind == "physical"]
}
