#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's demo: build, bring up the embedded node with the two-space
# topology in network namespaces, and show routed responses with and
# without the azds-route-as header. --keep leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
./scripts/install-deps.sh >/dev/null
./scripts/build.sh >/dev/null
B=$PWD/build/bin
I=demo
CTL="$B/azds-controller -i $I"
INIT="$B/azds-init -i $I"

$CTL stop >/dev/null 2>&1 || true
[ $KEEP = 1 ] || trap '$CTL stop >/dev/null 2>&1' EXIT
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. Start the node (pinned BPF maps, TC + cgroup programs, DNS, azds-router)"
$CTL start
say "2. Spaces dev -> dev/alice, services web and api in dev, alice's own api"
$CTL space add dev
$CTL space add dev/alice
$CTL service add dev web --port 80 --target-port 8080
$CTL service add dev api --port 80 --target-port 8080
$CTL service add dev/alice api --port 80 --target-port 8080
for p in "web dev web" "api dev api" "api-alice dev/alice api"; do
	set -- $p
	$INIT add --pod "$1" --space "$2" --service "$3" >/dev/null
	$INIT exec --pod "$1" -- "$B/podserver" --pod "$1" --space "$2" --service "$3" \
		--listen 0.0.0.0:8080 >/dev/null 2>&1 &
	disown
done
$CTL service list
for i in $(seq 1 100); do
	$INIT exec --pod web -- "$B/azds-probe" get api:80 / --timeout 1 >/dev/null 2>&1 &&
		$INIT exec --pod web -- "$B/azds-probe" get web:80 / --timeout 1 >/dev/null 2>&1 && break
	sleep 0.1
done

run() { printf '$'; printf ' %q' "$@"; echo; "$@" 2>&1 | sed 's/^/    /'; }
say "3. From the web pod: http://api/ without a header -> dev's api"
run $INIT exec --pod web -- curl -s http://api/
say "4. With azds-route-as: alice -> alice's api (same client, same URL)"
run $INIT exec --pod web -- curl -s http://api/ -H 'azds-route-as: alice'
say "5. Through two hops (web calls api, propagating the header)"
run $INIT exec --pod web -- curl -s 'http://web/call?url=http://api/' -H 'azds-route-as: alice'
run $INIT exec --pod web -- curl -s 'http://web/call?url=http://api/'
say "6. W3C baggage works too"
run $INIT exec --pod web -- curl -s http://api/ -H 'baggage: azds-route-as=alice'
say "7. Data-plane counters"
$CTL status
if [ $KEEP = 1 ]; then
	say "Left running. Try: $INIT exec --pod web -- curl -s http://api/ -H 'azds-route-as: alice'"
	echo "Stop with: $CTL stop"
fi
