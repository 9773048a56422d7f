# The agent on the main cluster's database host writes with these rights
# only: it can add backups and WAL, never delete a version or touch the
# bucket's lock, lifecycle or policy.
data "lifeboat_access_policy" "writer" {
  role    = "writer"
  bucket  = "acme-odoo-backups"
  prefix  = "pg"
  cluster = "odoo-main"
}

resource "aws_iam_user_policy" "odoo_main_agent" {
  name   = "lifeboat-writer-odoo-main"
  user   = "lifeboat-agent-odoo-main"
  policy = data.lifeboat_access_policy.writer.json
}

# Restores and drills read every cluster of the repository.
data "lifeboat_access_policy" "restorer" {
  role   = "restorer"
  bucket = "acme-odoo-backups"
  prefix = "pg"
}
