# The ID is the address, "[<user>@]<host>:<port>", WITHOUT the password (an
# ID is shown and kept in plain text): give it through REDISCLI_AUTH while
# importing, as for redis-cli; the configuration supplies it afterwards.
#
# The class is adopted from the server's settings: no persistence is a
# cache, AOF with maxmemory-policy noeviction a queue, anything else a
# session. When that guess is wrong, the next plan shows the change.
REDISCLI_AUTH=... terraform import lifeboat_redis_persistence.sessions \
  'lifeboat@redis-sessions.internal:6379'

# An instance the agent snapshots: add where its schedule is,
# ",<bucket>[/<prefix>],<cluster>,<instance>". The snapshot block (schedule,
# keep_count, keep_days), cluster and repository are read from the stored
# schedule, which must exist.
REDISCLI_AUTH=... terraform import lifeboat_redis_persistence.sessions \
  'lifeboat@redis-sessions.internal:6379,lifeboat-repository/pg,odoo-main,sessions'
