#!/usr/bin/env bash
# Regenerates the role guides' screenshots (docs/guides/img/*.png) from the demo data in Chromium:
# runs only tests/browser/test_guide_screenshots.py with GUIDE_SCREENSHOT_DIR pointing at the folder.
# Usage: scripts/screenshots.sh [OUT_DIR]   (default docs/guides/img)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
OUT=${1:-docs/guides/img}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/*.png   # pictures of pages that are no longer photographed do not linger
GUIDE_SCREENSHOT_DIR="$OUT" REQUIRE_E2E=1 "$PY" -m pytest -q -p no:logging tests/browser/test_guide_screenshots.py
echo "==> $(ls "$OUT"/*.png | wc -l) screenshots, $(du -sh "$OUT" | cut -f1) in $OUT"
