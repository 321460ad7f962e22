#!/usr/bin/env bash
# Regenerate the README screenshots from a real run of the sample:
#   docs/img/qgis_project.png  the run's project.qgz rendered by QGIS (layout with legend)
#   docs/img/report.png        the top of the run's report.html in headless Chromium
# Needs QGIS and Chromium (scripts/system.d/qgis.sh).  Extra arguments go to
# 'landcover run' (e.g. --model BUNDLE; default: the shipped model).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)/sample
.venv/bin/landcover run workflows/sample.yaml --out "$out" --no-progress "$@"
mkdir -p docs/img
run_dir=$(mktemp -d)
chmod 700 "$run_dir"
# QGIS's embedded Python must not see a venv's python3 first on PATH
env -i PATH=/usr/bin:/bin HOME="$run_dir" QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$run_dir" \
  /usr/bin/python3 scripts/qgis_render.py "$out/project.qgz" docs/img/qgis_project.png
.venv/bin/python - "$out/report.html" docs/img/report.png <<'PY'
import sys
sys.path.insert(0, "tests")
import browser

r = browser.check_page(sys.argv[1], screenshot=sys.argv[2], width=1100, max_height=1900)
assert not r["console_errors"] and not r["exceptions"], r
print(sys.argv[2])
PY
