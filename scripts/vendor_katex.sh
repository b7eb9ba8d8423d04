#!/usr/bin/env bash
# Re-vendor KaTeX (+ mhchem, auto-render) from the npm registry into app/static/vendor/katex/.
# The exam pages are served on closed school networks without any CDN, so every asset the
# browser needs is copied into the repository.
#
# Usage: scripts/vendor_katex.sh [VERSION]   (default: the version in app/static/vendor/katex/VERSION)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/app/static/vendor/katex"
version="${1:-$(cat "$dest/VERSION" 2>/dev/null || echo latest)}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "katex@$version" >/dev/null)
tar -xzf "$tmp"/katex-*.tgz -C "$tmp"
pkg="$tmp/package"
dist="$pkg/dist"

rm -rf "$dest"
mkdir -p "$dest/fonts" "$dest/contrib"
cp "$dist/katex.min.js" "$dist/katex.min.css" "$dest/"
cp "$dist/contrib/mhchem.min.js" "$dist/contrib/auto-render.min.js" "$dest/contrib/"
# woff2 is supported by every browser the exam supports; woff is the small fallback.
cp "$dist"/fonts/*.woff2 "$dist"/fonts/*.woff "$dest/fonts/"
cp "$pkg/LICENSE" "$dest/LICENSE"
node -p "require('$pkg/package.json').version" > "$dest/VERSION"

# katex.min.css also names .ttf fonts; drop those url() entries so the browser never
# requests files that are not vendored (woff2/woff cover every supported browser).
sed -i -E 's/,url\(fonts\/[^)]*\.ttf\) format\("truetype"\)//g' "$dest/katex.min.css"

echo "vendored KaTeX $(cat "$dest/VERSION") into ${dest#"$root/"} ($(du -sh "$dest" | cut -f1))"
