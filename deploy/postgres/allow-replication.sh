#!/bin/sh
# Run once by the postgres image's entrypoint when its data volume is new: lets the scale
# profile's replica (postgres-replica) stream from this server with the same password.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
