# Archive the WAL of the main Odoo cluster into the immutable repository,
# never losing more than five minutes of transactions.
resource "lifeboat_wal_archive" "main" {
  cluster = "odoo-main"
  rpo     = "5m" # archive_timeout becomes 150s

  postgres {
    host     = "db1.internal"
    port     = 5432
    user     = "postgres"
    password = var.pg_password
    sslmode  = "require"
  }

  repository {
    bucket = lifeboat_immutable_bucket.repository.name
    prefix = "pg"
  }

  agent_path        = "/usr/local/bin/lifeboat"
  agent_config_path = "/etc/lifeboat/odoo-main.json"

  # The agent writes as a writer identity (the lifeboat_access_policy
  # document with role = "writer"), never with the provider's own keys.
  # Omit the block to use the AWS default credential chain on the host.
  agent_credentials {
    access_key = var.writer_access_key
    secret_key = var.writer_secret_key
  }

  # The host's name, for requests (restores, drills) addressed to it: with
  # it, agent_config is the host's whole bootstrap file. The restorer is
  # the read-only identity (role = "restorer") the agent restores and runs
  # clean rooms with; it goes into agent_config only, never into the
  # repository.
  agent_host = "db1"
  restorer_credentials {
    access_key = var.restorer_access_key
    secret_key = var.restorer_secret_key
  }

  # The compression and these recipients go into the repository's signed
  # WAL settings, which wal-push reads: a change needs no new file on the
  # host. WAL is encrypted on the database host, after compression, to these
  # public keys: the host can archive but never read back. The restorer
  # holds the identities (the provider's identity_file). To rotate, add the
  # new recipient (new WAL uses it), and keep the old identity until the
  # WAL encrypted to it has expired.
  encryption {
    recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
  }
}

# The agent's configuration for the database host (a Kubernetes Secret,
# a config-management template...). It is sensitive.
output "agent_config" {
  value     = lifeboat_wal_archive.main.agent_config
  sensitive = true
}
