#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the ledger tests and prints its DSN on stdout (only that).
#
#   DSN=$(.ci/postgres.sh) && BILLING_RULES_TEST_POSTGRES="$DSN" BILLING_RULES_REQUIRE_POSTGRES=1 pytest
#
# Installs Debian's postgresql package when the binaries are missing, initialises a cluster in a
# temporary directory owned by the (non-root) postgres user, starts it on 127.0.0.1 only (port 5433,
# or the next free one), and creates the test database. The data directory is printed on stderr.
# Environment: PGPORT_TEST forces the port, PGDATA_TEST the data directory (an empty one).
#
#   .ci/postgres.sh stop DIR    stops the server of data directory DIR and removes DIR
set -eu

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${PGPORT_TEST:-5433}"
if [ -z "${PGPORT_TEST:-}" ]; then
    while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
fi
DB=billing_rules_test
RUN_AS=postgres

log() { echo "postgres.sh: $*" >&2; }

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

# initdb refuses to run as root: use the postgres user (created by the Debian package).
if [ "$(id -u)" = 0 ]; then
    as_pg() { su "$RUN_AS" -s /bin/sh -c "$*"; }
else
    as_pg() { sh -c "$*"; }
fi

if [ "${1:-}" = stop ]; then
    DATA=${2:?"usage: $0 stop DATA_DIRECTORY"}
    if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl -D $DATA -m fast -w stop" >/dev/null 2>&1 || log "could not stop the server of $DATA"
    fi
    rm -rf "$DATA"
    exit 0
fi

if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

if [ "$(id -u)" = 0 ]; then
    id "$RUN_AS" >/dev/null 2>&1 || useradd --system --no-create-home "$RUN_AS"
fi

DATA=${PGDATA_TEST:-$(mktemp -d /tmp/billing-rules-pg.XXXXXX)}
[ "$(id -u)" = 0 ] && chown "$RUN_AS" "$DATA"
log "data directory $DATA, port $PORT"
as_pg "$BIN/initdb -D $DATA -U postgres --auth=trust --encoding=UTF8 --no-locale" >/dev/null
# Loopback only; the socket lives in the data directory, not in /var/run/postgresql.
as_pg "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w -o \"-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off\" start" >&2
as_pg "$BIN/createdb -h 127.0.0.1 -p $PORT -U postgres $DB" >&2

echo "postgresql://postgres@127.0.0.1:$PORT/$DB"
