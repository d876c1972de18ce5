#!/usr/bin/env bash
# ci-services.sh installs and starts the services the store and web tests use:
# a local PostgreSQL cluster with a test role and database, and Debian's chromium
# for the browser end-to-end test. It is idempotent: run it again and it only
# checks that everything is up.
#
# Logs go to stderr. The last (and only) line on stdout is
#   export RLHF_TEST_POSTGRES=postgres://...
# so a CI script can do: eval "$(scripts/ci-services.sh)"  or  source <(scripts/ci-services.sh).
# The same line is also written to ${RLHF_CI_ENV_FILE:-/tmp/rlhf-ci-env.sh}.
#
# Needs root (apt-get, pg_ctlcluster). Set RLHF_CI_NO_CHROMIUM=1 to skip chromium.
set -euo pipefail

log() { echo "ci-services: $*" >&2; }

DB_USER=${RLHF_TEST_PG_USER:-rlhf_test}
DB_PASS=${RLHF_TEST_PG_PASSWORD:-rlhf_test}
DB_NAME=${RLHF_TEST_PG_DB:-rlhf_test}
PG_PORT=${RLHF_TEST_PG_PORT:-5432}
ENV_FILE=${RLHF_CI_ENV_FILE:-/tmp/rlhf-ci-env.sh}

if [ "$(id -u)" != "0" ]; then
	log "must run as root (apt-get and pg_ctlcluster)"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_install() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get update >&2
		apt_updated=1
	fi
	log "apt-get install -y $*"
	apt-get install -y --no-install-recommends "$@" >&2
}

# PostgreSQL server and client.
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	apt_install postgresql
fi

# Chromium for the browser test.
if [ "${RLHF_CI_NO_CHROMIUM:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
	apt_install chromium
fi

# Pick the newest installed major version and make sure a cluster exists.
PG_VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
log "PostgreSQL version $PG_VERSION"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$PG_VERSION main"; then
	log "creating cluster $PG_VERSION main"
	pg_createcluster "$PG_VERSION" main --port "$PG_PORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
	log "starting cluster $PG_VERSION main"
	pg_ctlcluster "$PG_VERSION" main start >&2
fi

# Wait until the server accepts connections (bounded: 30 tries, 1 s apart).
for i in $(seq 1 30); do
	if su postgres -c "psql -p $PG_PORT -tAc 'select 1'" >/dev/null 2>&1; then
		break
	fi
	if [ "$i" = 30 ]; then
		log "PostgreSQL did not come up; see /var/log/postgresql/"
		exit 1
	fi
	sleep 1
done

# Role and database for the tests (created once, password reset each time).
psql_admin() { su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -tAc \"$1\""; }
if [ "$(psql_admin "select 1 from pg_roles where rolname='$DB_USER'")" != "1" ]; then
	log "creating role $DB_USER"
	psql_admin "create role $DB_USER login password '$DB_PASS'" >&2
else
	psql_admin "alter role $DB_USER login password '$DB_PASS'" >&2
fi
if [ "$(psql_admin "select 1 from pg_database where datname='$DB_NAME'")" != "1" ]; then
	log "creating database $DB_NAME"
	psql_admin "create database $DB_NAME owner $DB_USER" >&2
fi

URL="postgres://$DB_USER:$DB_PASS@127.0.0.1:$PG_PORT/$DB_NAME?sslmode=disable"
LINE="export RLHF_TEST_POSTGRES='$URL'"
echo "$LINE" >"$ENV_FILE"
log "wrote $ENV_FILE"
echo "$LINE"
