#!/usr/bin/env bash
# The test command: installs what is missing, then runs the whole suite.
# In CI (CI=true), or with LANDCOVER_SYSTEM_DEPS=1, the system services and programs
# some tests drive for real (QGIS, Chromium, PostgreSQL+PostGIS) are installed and
# started first by scripts/system.d/*.sh (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${CI:-}" = "true" ] || [ "${LANDCOVER_SYSTEM_DEPS:-}" = "1" ]; then
  for s in scripts/system.d/*.sh; do
    [ -e "$s" ] && bash "$s"
  done
fi
exec .venv/bin/python -m pytest -q "$@"
