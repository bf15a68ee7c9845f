#!/bin/bash
# SPDX-License-Identifier: MIT
# Small latency comparison, one run: the same client pod calls the same
# server pod directly (pod address) and through azds (service address:
# TC steering + azds-router), keep-alive, one connection, with wrk.
# Usage: bench/latency.sh [BUILD_BIN] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-$PWD/build/bin}
SECS=${2:-5}
I=benchlat
CTL="$B/azds-controller -i $I"
INIT="$B/azds-init -i $I"
command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-deps.sh" >&2; exit 1; }
$CTL stop >/dev/null 2>&1 || true
trap '$CTL stop >/dev/null 2>&1' EXIT
$CTL start >/dev/null
$CTL space add dev >/dev/null
$CTL space add dev/alice >/dev/null
$CTL service add dev api --port 80 --target-port 8080 >/dev/null
$CTL service add dev/alice api --port 80 --target-port 8080 >/dev/null
$INIT add --pod api --space dev --service api >/dev/null
$INIT add --pod api-alice --space dev/alice --service api >/dev/null
$INIT add --pod client --space dev >/dev/null
for p in "api dev" "api-alice dev/alice"; do
	set -- $p
	$INIT exec --pod "$1" -- "$B/podserver" --pod "$1" --space "$2" --service api --listen 0.0.0.0:8080 >/dev/null 2>&1 &
	disown
done
API=$($CTL pod list | awk '$1 == "api" { print $2 }')
VIP=$("$B/azds" -i $I list-uris | awk '$1 == "api" { sub(".*://", "", $2); print $2 }')
for i in $(seq 1 100); do
	$INIT exec --pod client -- "$B/azds-probe" get "$API:8080" / --timeout 1 >/dev/null 2>&1 && break
	sleep 0.05
done

# run NAME URL [HEADER]: wrk, 1 thread, 1 connection; prints p50 p99 req/s
run() {
	local out
	if [ -n "${3:-}" ]; then
		out=$($INIT exec --pod client -- wrk -t1 -c1 -d"${SECS}s" --latency -H "$3" "$2")
	else
		out=$($INIT exec --pod client -- wrk -t1 -c1 -d"${SECS}s" --latency "$2")
	fi
	local p50 p99 rps
	p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
	p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
	rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
	printf '%-34s %10s %10s %12s\n' "$1" "$p50" "$p99" "$rps"
}
printf '%-34s %10s %10s %12s\n' "path (1 keep-alive connection)" "p50" "p99" "req/s"
run "direct (pod address)" "http://$API:8080/"
run "azds, no header (dev)" "http://$VIP/"
run "azds, azds-route-as: alice" "http://$VIP/" "azds-route-as: alice"
$CTL set sockmap off
run "azds, sockmap off, route-as: alice" "http://$VIP/" "azds-route-as: alice"
$CTL set sockmap on
