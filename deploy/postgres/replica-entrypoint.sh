#!/bin/sh
# Entry point of the cluster profile's `db-replica` (docker-compose.yml): on an empty data
# directory, copy the primary with pg_basebackup -R (which writes standby.signal and
# primary_conninfo), then start PostgreSQL through the image's own entry point as a hot
# standby that streams the primary's WAL through a replication slot.
#
# The copy is redone only while the marker below is missing, so a half-finished copy is
# started over, and a replica that was promoted (docs/scaling.md, failover) is never wiped.
set -eu

: "${PRIMARY_HOST:?PRIMARY_HOST is not set}"
: "${PGPASSWORD:?set CITYHUB_REPLICATION_PASSWORD in .env (deploy/README.md)}"
REPLICATION_USER="${REPLICATION_USER:-replicator}"
SLOT="${REPLICATION_SLOT:-cityhub_replica_1}"
DATA="${PGDATA:?PGDATA is not set}"
MARKER="$DATA/cityhub-replica-copied"

if [ ! -f "$MARKER" ]; then
    until pg_isready -q -h "$PRIMARY_HOST" -p 5432 -d postgres; do
        echo "waiting for the primary $PRIMARY_HOST" >&2
        sleep 2
    done
    find "$DATA" -mindepth 1 -delete
    # The slot keeps the primary's WAL until this replica has it (bounded on the primary by
    # max_slot_wal_keep_size); made once, reused when the replica is copied again.
    if psql -h "$PRIMARY_HOST" -U "$REPLICATION_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT'" | grep -q 1; then
        create=""
    else
        create="--create-slot"
    fi
    echo "copying the primary $PRIMARY_HOST (pg_basebackup, slot $SLOT)" >&2
    # shellcheck disable=SC2086
    pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U "$REPLICATION_USER" -D "$DATA" \
        --write-recovery-conf --wal-method=stream --checkpoint=fast \
        --slot="$SLOT" $create --no-password
    chmod 0700 "$DATA"
    touch "$MARKER"
fi

exec docker-entrypoint.sh "$@"
