#!/usr/bin/env bash
# loadbench.sh: `moa load` against a fresh `moa dev` (what `make bench` runs). The dev system
# gets a temporary data directory and free ports; it is stopped (SIGTERM, as an operator
# would) and its directory removed afterwards, whatever happens. Arguments go to moa load.
set -euo pipefail
GO=${GO:-go}
work=$(mktemp -d)
bin="$work/moa"
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
"$GO" build -o "$bin" ./cmd/moa
"$bin" dev --data-dir "$work/data" --http-addr 127.0.0.1:0 --nats-addr 127.0.0.1:0 --log-level warn \
	>"$work/dev.out" 2>"$work/dev.log" &
pid=$!
# moa dev prints "web: URL" once it listens; /readyz says when every service is up.
url=""
for _ in $(seq 1 300); do
	url=$(sed -n 's/^web: //p' "$work/dev.out" | tr -d '\r')
	if [ -n "$url" ] && curl -sf "${url%/}/readyz" >/dev/null; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "loadbench: moa dev exited:" >&2
		tail -20 "$work/dev.log" >&2
		exit 1
	fi
	sleep 0.5
done
if [ -z "$url" ] || ! curl -sf "${url%/}/readyz" >/dev/null; then
	echo "loadbench: moa dev not ready after 150 s" >&2
	tail -20 "$work/dev.log" >&2
	exit 1
fi
"$bin" load --url "${url%/}" "$@"
