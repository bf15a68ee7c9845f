#!/bin/bash
# SPDX-License-Identifier: MIT
# The inner loop's benchmark (issue 8; docs/performance.md, "The inner loop"):
#   save until serving    an interpreted (Python) service under `azds up`: a save of its
#                         source until the ingress answers with the new text (N saves, p50/p90)
#   first up, warm        `azds up -d` of samples/bikeshop/api after `down --keep-workspace`
#                         (nothing to send, its RUN step cached): until the command returns
#   initial sync          a FILES-file tree (1 KiB each, 100 per directory) into a workspace
#   watcher idle CPU      `azds up` watching that tree, idle for IDLE seconds: its CPU share
#   one file until synced a static file of that tree changed until up has synced it
# Usage: bench/up.sh BIN_DIR [--files N] [--saves N] [--idle SEC] [-o json]
# It prints a table (or one JSON object); a figure it could not measure fails the run.
set -uo pipefail
B=$(cd "${1:?usage: $0 BIN_DIR [--files N] [--saves N] [--idle SEC] [-o json]}" && pwd) || exit 1
shift
FILES=20000
SAVES=10
IDLE=10
OUT=table
while [ $# -gt 0 ]; do
	case "$1" in
	--files) FILES=${2:?}; shift 2 ;;
	--saves) SAVES=${2:?}; shift 2 ;;
	--idle) IDLE=${2:?}; shift 2 ;;
	-o) OUT=${2:?}; shift 2 ;;
	*) echo "bench/up.sh: unknown option \"$1\"" >&2; exit 2 ;;
	esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
I=benchup
AZ="$B/azds -i $I"
CTL="$B/azds-controller -i $I"
W=/tmp/azds-bench-up
UP=
cleanup() {
	[ -n "$UP" ] && kill "$UP" 2>/dev/null && wait "$UP" 2>/dev/null
	$CTL purge >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
cleanup
mkdir -p "$W"
log() { [ "$OUT" = table ] && echo "$*" >&2; return 0; }
ms() { date +%s%3N; }
die() { echo "bench/up.sh: $*" >&2; exit 1; }

$AZ controller start >"$W/start.log" 2>&1 || { cat "$W/start.log" >&2; die "controller start failed"; }
$AZ space select -n dev -y >/dev/null || die "space select"
PORT=$($AZ controller status -o json | jq -r '.ingress.port')

# ---- first up of a sample service, build cache warm
cp -r "$HERE/../samples/bikeshop/api" "$W/api"
(cd "$W/api" && $AZ up -d >"$W/api.log" 2>&1) || { cat "$W/api.log" >&2; die "up of api failed"; }
(cd "$W/api" && $AZ down --keep-workspace >/dev/null 2>&1) || die "down --keep-workspace"
t0=$(ms)
(cd "$W/api" && $AZ up -d >"$W/api2.log" 2>&1) || die "second up of api failed"
FIRST_UP=$(($(ms) - t0))
grep -q "(cached" "$W/api2.log" || die "the warm up ran its build step again: $(cat "$W/api2.log")"
log "first up, build cache warm: $FIRST_UP ms"

# ---- the tree: FILES files, a Python service at its top
P=$W/tree
mkdir -p "$P/static"
python3 - "$P/static" "$FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write(("file %d " % i) * 100 + "\n")
EOF
cat >"$P/app.py" <<'EOF'
import http.server, os
VERSION = "0"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("version=%s\n" % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), H).serve_forever()
EOF
printf 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nEXPOSE 8080\nCMD ["python3", "app.py"]\n' >"$P/Dockerfile"
printf 'kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\ninstall:\n  chart: charts/tree\nconfigurations:\n  develop:\n    container:\n      sync:\n      - "**/*.py"\n      - "static/**"\n' >"$P/azds.yaml"

# ---- initial sync of the tree (the workspace command: the same sync up runs)
out=$($AZ workspace sync "$P" --name treesync -n dev -o json 2>"$W/sync.err") || { cat "$W/sync.err" >&2; die "sync failed"; }
SYNC_MS=$(echo "$out" | jq -r '.ms // .stats.ms // empty')
SYNC_FILES=$(echo "$out" | jq -r '.sent // .stats.sent // empty')
[ -n "$SYNC_MS" ] && [ "${SYNC_FILES:-0}" -ge "$FILES" ] || die "the sync reported no figure or too few files: $out"
log "initial sync of $SYNC_FILES files: $SYNC_MS ms"

# ---- azds up on the tree; saves until serving
(cd "$P" && exec $AZ up >"$W/up.log" 2>&1) &
UP=$!
for _ in $(seq 1 600); do grep -q "Press Ctrl+C" "$W/up.log" && break; sleep 0.05; done
grep -q "Press Ctrl+C" "$W/up.log" || die "up on the tree never got to watching: $(tail -5 "$W/up.log")"
URL="http://dev.tree.localhost:$PORT/"
for _ in $(seq 1 200); do curl -s --max-time 2 "$URL" | grep -q "version=0" && break; sleep 0.05; done
: >"$W/saves"
for n in $(seq 1 "$SAVES"); do
	t0=$(date +%s%N)
	sed -i "s/^VERSION = .*/VERSION = \"$n\"/" "$P/app.py"
	got=0
	for _ in $(seq 1 2000); do
		if curl -s --max-time 2 "$URL" | grep -q "version=$n\$"; then got=1; break; fi
		sleep 0.005
	done
	[ $got = 1 ] || die "save $n never served: $(tail -5 "$W/up.log")"
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$W/saves"
	sleep 0.3
done
SAVE_P50=$(sort -n "$W/saves" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
SAVE_P90=$(sort -n "$W/saves" | awk '{ a[NR] = $1 } END { i = int(NR * 0.9 + 0.999); print a[i] }')
log "save until serving: p50 $SAVE_P50 ms, p90 $SAVE_P90 ms ($SAVES saves)"

# ---- the watcher idle on the tree
ticks() { awk '{ print $14 + $15 }' "/proc/$UP/stat"; }
HZ=$(getconf CLK_TCK)
c0=$(ticks)
t0=$(ms)
sleep "$IDLE"
c1=$(ticks)
t1=$(ms)
IDLE_CPU=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", 100 * c / hz / (t / 1000) }')
log "watcher idle CPU over ${IDLE} s: $IDLE_CPU %"

# ---- one static file of the tree until synced
: >"$W/one"
for n in 1 2 3 4 5; do
	before=$(grep -c "copied in place" "$W/up.log")
	t0=$(date +%s%N)
	echo "changed $n" >"$P/static/d000/f00000.txt"
	for _ in $(seq 1 4000); do
		[ "$(grep -c "copied in place" "$W/up.log")" -gt "$before" ] && break
		sleep 0.001
	done
	[ "$(grep -c "copied in place" "$W/up.log")" -gt "$before" ] || die "a changed file was not synced: $(tail -3 "$W/up.log")"
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$W/one"
	sleep 0.2
done
ONE_P50=$(sort -n "$W/one" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
log "one changed file until synced: p50 $ONE_P50 ms"

for v in FIRST_UP SYNC_MS SAVE_P50 SAVE_P90 IDLE_CPU ONE_P50; do
	[ -n "${!v}" ] || die "no figure for $v"
done
if [ "$OUT" = json ]; then
	jq -n --argjson fu "$FIRST_UP" --argjson sm "$SYNC_MS" --argjson sf "$SYNC_FILES" --argjson s50 "$SAVE_P50" \
		--argjson s90 "$SAVE_P90" --argjson ic "$IDLE_CPU" --argjson o50 "$ONE_P50" \
		'{first_up_warm_ms:$fu, initial_sync_ms:$sm, initial_sync_files:$sf, save_until_serving_p50_ms:$s50,
		  save_until_serving_p90_ms:$s90, watcher_idle_cpu_pct:$ic, one_file_synced_p50_ms:$o50}'
else
	printf '\nThe inner loop: %s files, %s saves, %s s idle\n' "$FILES" "$SAVES" "$IDLE"
	{
		echo "measure|figure|target"
		echo "save until serving, interpreted service (p50 / p90)|$SAVE_P50 / $SAVE_P90 ms|p50 < 300 ms"
		echo "first up of samples/bikeshop/api, build cache warm|$FIRST_UP ms|< 3000 ms"
		echo "initial sync of a $SYNC_FILES-file tree|$SYNC_MS ms|< 10000 ms"
		echo "watcher CPU while idle on that tree|$IDLE_CPU %|< 1 %"
		echo "one changed file in that tree until synced (p50)|$ONE_P50 ms|< 100 ms"
	} | column -t -s '|'
fi
