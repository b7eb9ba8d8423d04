#!/usr/bin/env bash
# Re-vendor axe-core from the npm registry into tests/browser/vendor/axe-core/.
# The browser tests inject axe.min.js into every page they audit (tests/browser/test_accessibility.py);
# the file is kept in the repository so the tests run offline and always audit with the same rules.
#
# Usage: scripts/vendor_axe.sh [VERSION]   (default: the version in tests/browser/vendor/axe-core/VERSION)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/tests/browser/vendor/axe-core"
version="${1:-$(cat "$dest/VERSION" 2>/dev/null || echo latest)}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
tar -xzf "$tmp"/axe-core-*.tgz -C "$tmp"
pkg="$tmp/package"

rm -rf "$dest"
mkdir -p "$dest"
cp "$pkg/axe.min.js" "$dest/axe.min.js"
cp "$pkg/LICENSE" "$dest/LICENSE"
node -p "require('$pkg/package.json').version" > "$dest/VERSION"

echo "vendored axe-core $(cat "$dest/VERSION") into ${dest#"$root/"} ($(du -sh "$dest" | cut -f1))"
