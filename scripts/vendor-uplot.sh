#!/usr/bin/env bash
# vendor-uplot.sh refreshes the dashboard's vendored uPlot from the npm
# registry, at the pinned version (or the one given), with its licence. The
# Go build never needs Node: the files are committed under web/assets.
set -euo pipefail
version="${1:-1.6.32}"
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null && tar xzf "uplot-$version.tgz")
dst="$here/web/assets"
cp "$tmp/package/dist/uPlot.iife.min.js" "$dst/uplot.min.js"
cp "$tmp/package/dist/uPlot.min.css" "$dst/uplot.min.css"
{ echo "uPlot $version (https://github.com/leeoniya/uPlot), from the npm registry, under this licence:"; echo; cat "$tmp/package/LICENSE"; } > "$dst/uplot.LICENSE"
echo "vendored uPlot $version into $dst"
