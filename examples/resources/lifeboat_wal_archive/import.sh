# lifeboat_wal_archive is not imported by ID: it needs the PostgreSQL
# connection, which only the configuration holds. Declare it and apply; it
# adopts the server's current archive settings in place.
