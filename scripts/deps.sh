#!/usr/bin/env bash
# Installs what Moa's commands need from the machine, when it is missing, on Debian/Ubuntu:
#   postgres  the PostgreSQL server binaries (initdb, postgres) and psql: `moa dev` and the
#             test harness run a private server from them
#   chromium  a headless browser for the browser tests
#   cjkfont   a font with Korean glyphs (Debian's fonts-noto-cjk), so the browser tests'
#             screenshots (MOA_SCREENSHOTS) show the Korean UI instead of empty boxes
# Usage: scripts/deps.sh postgres [chromium] [cjkfont]
# At most one `apt-get update`, and none when everything is there.
set -euo pipefail

have_postgres() {
  if command -v initdb >/dev/null && command -v postgres >/dev/null; then
    command -v psql >/dev/null && return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/psql" ] && return 0
  done
  return 1
}

have_chromium() {
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null
}

# fc-list answers for any installed font with Korean glyphs, not only Noto; without
# fontconfig, the package's own files are the test.
have_cjkfont() {
  if command -v fc-list >/dev/null; then
    [ -n "$(fc-list :lang=ko family 2>/dev/null)" ] && return 0
  fi
  [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1
}

missing=()
for dep in "$@"; do
  case "$dep" in
    postgres) have_postgres || missing+=(postgresql) ;;
    chromium) have_chromium || missing+=(chromium) ;;
    cjkfont) have_cjkfont || missing+=(fonts-noto-cjk) ;;
    *) echo "deps.sh: unknown dependency $dep" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "Missing: ${missing[*]}. Install with: apt-get install -y ${missing[*]} (as root)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "Missing: ${missing[*]}, and this is not a Debian-like system: install them with your package manager" \
       "(PostgreSQL server binaries initdb and postgres must be on PATH)" >&2
  exit 1
fi
echo "Installing ${missing[*]} ..." >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
