# The ID is the repository path, "<bucket>/[<prefix>/]<cluster>", then a
# space and the PostgreSQL connection WITHOUT its password (an ID is shown
# and kept in plain text): give the password through PGPASSWORD or ~/.pgpass
# while importing; the configuration supplies it afterwards.
#
# The server's archive settings are adopted: rpo is read back as twice
# archive_timeout, agent_path and agent_config_path from archive_command.
# compression (it lives in the agent's file on the database host) and the
# Terraform-only settings take their defaults, and the first apply after an
# import verifies archiving, as after a create.
PGPASSWORD=... terraform import lifeboat_wal_archive.main \
  'acme-wal/pg/odoo-main postgres://postgres@db1.internal:5432/postgres?sslmode=require'
