#!/usr/bin/env bash
# Runs govulncheck over the whole module and fails on a vulnerability the code reaches.
# vuln.go.dev is not reachable from every machine that builds Moa, so the database is built
# locally from the golang.org/x/vulndb module (its OSV files, through the module proxy) with
# vulndb's own indexdb, once per vulndb version, in the user's cache (MOA_VULNDB_DIR, default
# ~/.cache/moa/vulndb), so fresh clones share it. Raise VULNDB to refresh it.
# Usage: scripts/vulncheck.sh [packages...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB=${VULNDB:-v0.0.0-20261105234957-e22db6528018}

db="${MOA_VULNDB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moa/vulndb}/$VULNDB"
if [ ! -f "$db/index/db.json" ]; then
  echo "vulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB"
  src=$("$GO" mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB" >&2; exit 2; }
  rm -rf "$db.tmp"
  mkdir -p "$(dirname "$db")"
  "$GO" run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$db.tmp"
  rm -rf "$db" && mv "$db.tmp" "$db"
fi
# govulncheck exits 3 when the code reaches a vulnerability: that fails lint.
exec "$GO" run "$GOVULNCHECK" -db "file://$db" "${@:-./...}"
