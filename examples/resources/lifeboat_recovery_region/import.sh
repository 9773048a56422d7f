# The ID is "<source bucket>[/<prefix>] <destination bucket>". The clusters,
# interval, max_lag and activation groups come back from the region
# documents in the clusters' repositories; destination credentials are
# stored nowhere and come from the configuration.
terraform import lifeboat_recovery_region.eu2 "acme-odoo-backups/pg acme-odoo-backups-dr"
