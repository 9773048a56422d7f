# An immutable bucket is imported by its name.
terraform import lifeboat_immutable_bucket.repository acme-odoo-backups
