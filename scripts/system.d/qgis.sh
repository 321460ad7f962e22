#!/usr/bin/env bash
# QGIS 3.22 (Debian bookworm) and Chromium for the tests that drive them for real:
# tests/test_qgis.py (layers, styles, project, render, the Processing provider through
# qgis_process.bin) and tests/test_report.py (report.html in headless Chromium).
# Idempotent; run as root (CI runs it through scripts/test.sh when CI=true).
# About 2 minutes and 1.2 GB the first time; nothing after that.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "qgis.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# qgis-providers: the gdal/ogr data providers; fonts: text in renders and screenshots
PKGS="qgis python3-qgis qgis-providers chromium fonts-dejavu-core"
need=0
[ -x /usr/bin/qgis_process.bin ] || need=1
/usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 || need=1
command -v chromium >/dev/null 2>&1 || need=1
if [ "$need" = 1 ]; then
  # wait for another apt/dpkg run (e.g. a sibling system.d script) instead of failing
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $PKGS
fi
/usr/bin/python3 -c "from qgis.core import Qgis; print('qgis', Qgis.version())"
chromium --version
