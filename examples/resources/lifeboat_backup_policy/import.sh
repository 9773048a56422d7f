# A backup policy is imported as <bucket>/<prefix>/<cluster> (or
# <bucket>/<cluster> without a prefix); the postgres block comes from the
# configuration.
terraform import lifeboat_backup_policy.main acme-odoo-backups/pg/odoo-main
