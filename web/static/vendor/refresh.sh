#!/usr/bin/env bash
# Re-vendor the workspace's front-end packages from the npm registry (a maintainer's step;
# nothing runs this at run time, and the server never fetches anything).
# Usage: web/static/vendor/refresh.sh   (then update the versions in README.md)
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {  # package version target-dir files...
  local pkg=$1 version=$2 dir=$3; shift 3
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  local tgz; tgz=$(ls "$tmp"/*.tgz); mkdir -p "$tmp/x" && tar xzf "$tgz" -C "$tmp/x"
  rm -rf "$dir" && mkdir -p "$dir"
  for f in "$@"; do cp "$tmp/x/package/$f" "$dir/"; done
  rm -rf "$tgz" "$tmp/x"
}
fetch htmx.org 2.0.11 htmx-2.0.11 dist/htmx.min.js LICENSE
fetch @picocss/pico 2.1.1 pico-2.1.1 css/pico.min.css LICENSE.md
fetch swagger-ui-dist 5.35.0 swagger-ui-dist-5.35.0 swagger-ui-bundle.js \
  swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE
sha256sum */* > SHA256SUMS
