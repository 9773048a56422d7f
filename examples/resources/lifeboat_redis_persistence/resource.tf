# HTTP sessions of the Odoo workers: lost sessions log users out, so they
# are persisted (RDB + AOF everysec) and restored after a failure. The
# agent on the Redis host snapshots them into the repository every 15
# minutes (its configuration holds the connection: "redis": {"sessions":
# {"address": "127.0.0.1:6379", "password": "..."}}), keeping a day of them.
resource "lifeboat_redis_persistence" "sessions" {
  class = "session"

  redis {
    address  = "redis-sessions.internal:6379"
    username = "lifeboat"
    password = var.redis_sessions_password
    tls      = true
  }

  cluster = "odoo-main"
  repository {
    bucket = "acme-odoo-backups"
    prefix = "pg"
  }
  snapshot {
    instance  = "sessions"
    schedule  = "@every 15m"
    keep_days = 1
  }
}

# A job queue: every write fsynced before it is acknowledged, never evicted.
resource "lifeboat_redis_persistence" "jobs" {
  class       = "queue"
  appendfsync = "always"

  redis {
    address  = "redis-jobs.internal:6379"
    password = var.redis_jobs_password
  }
}

# A page cache: no persistence; after a loss it is rebuilt, not restored.
resource "lifeboat_redis_persistence" "cache" {
  class = "cache"

  redis {
    address = "redis-cache.internal:6379"
  }
}

variable "redis_sessions_password" {
  type      = string
  sensitive = true
}

variable "redis_jobs_password" {
  type      = string
  sensitive = true
}
