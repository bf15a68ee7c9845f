#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's demo: build, start the controller, make spaces with
# `azds space select`, run sandboxed pods through the CLI, and show routed
# responses with and without the azds-route-as header. --keep leaves it
# running.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
./scripts/install-deps.sh >/dev/null
./scripts/build.sh >/dev/null
B=$PWD/build/bin
I=demo
AZ="$B/azds -i $I"
CTL="$B/azds-controller -i $I"
INIT="$B/azds-init -i $I"

$CTL purge >/dev/null 2>&1 || true
[ $KEEP = 1 ] || trap '$CTL purge >/dev/null 2>&1' EXIT
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf '$'; printf ' %q' "$@"; echo; "$@"; }

say "1. Start the controller (it loads the data plane, starts DNS and azds-router, serves the API)"
show $AZ controller start
say "2. Spaces: dev, and alice's child space dev/alice (selected, like 'azds space select' in Dev Spaces)"
show $AZ space select -n dev -y
show $AZ space select -n dev/alice -y
show $AZ space list
say "3. Services web and api in dev, alice's own api; each pod a sandbox running podserver"
$AZ service add web -n dev --port 80 --target-port 8080 >/dev/null
$AZ service add api -n dev --port 80 --target-port 8080 >/dev/null
$AZ service add api -n dev/alice --port 80 --target-port 8080 >/dev/null
for p in "web dev web" "api dev api" "api-alice dev/alice api"; do
	set -- $p
	$AZ pod run "$1" -n "$2" --service "$3" -- "$B/podserver" --pod "$1" --space "$2" --service "$3" \
		--listen 0.0.0.0:8080 >/dev/null
done
show $AZ service list -A
for i in $(seq 1 100); do
	$INIT exec --pod web -- "$B/azds-probe" get api:80 / --timeout 1 >/dev/null 2>&1 &&
		$INIT exec --pod web -- "$B/azds-probe" get web:80 / --timeout 1 >/dev/null 2>&1 && break
	sleep 0.1
done
show $AZ pod list -A

run() { printf '$'; printf ' %q' "$@"; echo; "$@" 2>&1 | sed 's/^/    /'; }
say "4. From the web pod: http://api/ without a header -> dev's api"
run $INIT exec --pod web -- curl -s http://api/
say "5. With azds-route-as: alice -> alice's api (same client, same URL)"
run $INIT exec --pod web -- curl -s http://api/ -H 'azds-route-as: alice'
say "6. Through two hops (web calls api, propagating the header)"
run $INIT exec --pod web -- curl -s 'http://web/call?url=http://api/' -H 'azds-route-as: alice'
run $INIT exec --pod web -- curl -s 'http://web/call?url=http://api/'
say "7. W3C baggage works too"
run $INIT exec --pod web -- curl -s http://api/ -H 'baggage: azds-route-as=alice'
say "8. The controller's view"
show $AZ controller status
if [ $KEEP = 1 ]; then
	say "Left running. Try: $INIT exec --pod web -- curl -s http://api/ -H 'azds-route-as: alice'"
	echo "Stop the daemon with: $AZ controller stop (pods keep running); remove everything: $CTL purge"
fi
