#!/usr/bin/env bash
# PostgreSQL + PostGIS for the monitor store tests (landcover.monitor, PostGIS store).
# Idempotent; run as root (CI runs it through scripts/test.sh when CI=true).
# Result: a cluster listening on localhost:5432 with role/password landcover/landcover
# and database landcover_test with the postgis extension.  Tests find it through
# LANDCOVER_TEST_PG (default postgresql://landcover:landcover@localhost:5432/landcover_test).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "postgis.sh: run as root (it installs Debian packages and starts a cluster)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# postgis alone holds only the client tools; postgresql-postgis pulls postgresql-NN-postgis-3
# (the extension itself), which --no-install-recommends would otherwise leave out
PKGS="postgresql postgis postgresql-postgis"
need=0
command -v pg_ctlcluster >/dev/null 2>&1 || need=1
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || need=1
if [ "$need" = 1 ]; then
  # wait for another apt/dpkg run (e.g. a sibling system.d script) instead of failing
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $PKGS
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main"' | grep -q .; then
  pg_createcluster "$ver" main --port 5432
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$ver" main start
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt $*"; }
if [ "$(psql_su "-c \"select 1 from pg_roles where rolname='landcover'\"")" != 1 ]; then
  psql_su "-c \"create role landcover login password 'landcover'\""
fi
if [ "$(psql_su "-c \"select 1 from pg_database where datname='landcover_test'\"")" != 1 ]; then
  psql_su "-c \"create database landcover_test owner landcover\""
fi
psql_su "-d landcover_test -c \"set client_min_messages=warning; create extension if not exists postgis\""
# the STAC API tests (tests/stac_server.py) create their own database and run the pypgstac
# migrations, which create roles and extensions: a superuser on this throwaway test cluster
psql_su "-c \"alter role landcover superuser\""
echo "postgis.sh: PostgreSQL $ver + PostGIS ready on localhost:5432 (db landcover_test)"
