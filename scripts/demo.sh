#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's demo, the Dev Spaces story with samples/bikeshop: start the
# node, `azds up` the three services (Node.js web, Python api, C data)
# into dev, make alice's child space dev/alice, `azds up` a changed api
# there, and show with real requests through the local ingress that a
# request routed as alice meets her api in the middle of the chain while
# everyone else gets dev's. --keep leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
# AZDS_DEMO_BIN: binaries built elsewhere (development); else build them here
if [ -z "${AZDS_DEMO_BIN:-}" ]; then
	./scripts/install-deps.sh >/dev/null
	./scripts/build.sh >/dev/null
fi
B=${AZDS_DEMO_BIN:-$PWD/build/bin}
# AZDS_DEMO_INSTANCE, AZDS_DEMO_INGRESS_PORT: the tests' own run beside a kept demo
I=${AZDS_DEMO_INSTANCE:-demo}
AZ="$B/azds -i $I"
CTL="$B/azds-controller -i $I"
WORK=$(mktemp -d /tmp/azds-demo.XXXXXX)

$CTL purge >/dev/null 2>&1 || true
if [ $KEEP = 1 ]; then
	trap 'rm -rf "$WORK"' EXIT
else
	trap '$CTL purge >/dev/null 2>&1; rm -rf "$WORK"' EXIT
fi
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf '$'; printf ' %q' "$@"; echo; "$@"; }
in_dir() { local d=$1; shift; printf '$ (cd %s &&' "${d#$PWD/}"; printf ' %q' "$@"; echo ')'; (cd "$d" && "$@"); }
# until URL answers with NEEDLE (services take a moment to listen)
wait_for() {
	for _ in $(seq 1 100); do
		curl -s --max-time 3 "$1" | grep -qF "$2" && return 0
		sleep 0.1
	done
	echo "demo: $1 never answered with $2" >&2
	return 1
}

say "1. Start the node: the controller loads the data plane and runs DNS, azds-router and the local ingress"
show $AZ controller start ${AZDS_DEMO_INGRESS_PORT:+--ingress-port "$AZDS_DEMO_INGRESS_PORT"}
PORT=$($AZ controller status -o json | jq -r '.ingress.port')

say "2. The team's space dev, and the whole app in it: azds up in each service's folder"
show $AZ space select -n dev -y
for s in data api web; do
	in_dir samples/bikeshop/$s $AZ up -d
done
show $AZ list-up

say "3. Everyone's request: web -> api -> data, all dev's"
wait_for "http://dev.web.localhost:$PORT/api/bikes" '"chain"'
show curl -s "http://dev.web.localhost:$PORT/api/bikes" -o "$WORK/dev.json"
jq -r '"chain:    \(.chain)\ngreeting: \(.api.greeting)"' "$WORK/dev.json"

say "4. Alice's child space dev/alice, and her change to api, up there (nothing else is copied)"
show $AZ space select -n dev/alice -y
cp -r samples/bikeshop/api "$WORK/api"
sed -i 's/^GREETING = .*/GREETING = "Hello from alice'"'"'s space!"/' "$WORK/api/app.py"
show grep -n '^GREETING' "$WORK/api/app.py"
in_dir "$WORK/api" $AZ up -d
show $AZ list-up --all

say "5. Routed as alice (the host alice.s.dev.web.localhost): her api in the middle of the chain"
wait_for "http://alice.s.dev.web.localhost:$PORT/api/bikes" 'api (dev/alice)' 
show curl -s "http://alice.s.dev.web.localhost:$PORT/api/bikes" -o "$WORK/alice.json"
jq -r '"chain:    \(.chain)\ngreeting: \(.api.greeting)"' "$WORK/alice.json"

say "6. Everyone else still gets dev's"
show curl -s "http://dev.web.localhost:$PORT/api/bikes" -o "$WORK/dev2.json"
jq -r '"chain:    \(.chain)\ngreeting: \(.api.greeting)"' "$WORK/dev2.json"

say "7. The same with the header instead of the host name: azds-route-as: alice"
show curl -s -H 'azds-route-as: alice' "http://dev.web.localhost:$PORT/api/bikes" -o "$WORK/hdr.json"
jq -r '"chain:    \(.chain)"' "$WORK/hdr.json"

say "8. Alice's request hop by hop, from the kernel: azds trace (nothing runs in the pods for it)"
# two readers of the same request: the lines a user reads, and JSON to check
$AZ trace -c 1 >"$WORK/trace.txt" 2>"$WORK/trace.err" &
T1=$!
$AZ trace -c 1 -o json >"$WORK/trace.json" 2>"$WORK/trace.jerr" &
T2=$!
for _ in $(seq 1 100); do
	grep -q waiting "$WORK/trace.err" 2>/dev/null && grep -q waiting "$WORK/trace.jerr" 2>/dev/null && break
	sleep 0.05
done
echo "\$ $AZ trace -c 1 &"
show curl -s "http://alice.s.dev.web.localhost:$PORT/api/bikes" -o /dev/null
for _ in $(seq 1 200); do kill -0 $T1 2>/dev/null || kill -0 $T2 2>/dev/null || break; sleep 0.05; done
kill $T1 $T2 2>/dev/null || true
cat "$WORK/trace.txt"

say "9. Each service's output, prefixed (azds logs; azds up streams it live)"
show $AZ logs api -n dev/alice --tail 3

# the story, checked: a demo that shows the wrong thing fails
jq -e '.chain == "web (dev) -> api (dev) -> data (dev)"' "$WORK/dev.json" >/dev/null
jq -e '.chain == "web (dev) -> api (dev/alice) -> data (dev)" and (.api.greeting | test("alice"))' \
	"$WORK/alice.json" >/dev/null
jq -e '.chain == "web (dev) -> api (dev) -> data (dev)"' "$WORK/dev2.json" >/dev/null
jq -e '.chain == "web (dev) -> api (dev/alice) -> data (dev)"' "$WORK/hdr.json" >/dev/null
# the trace names each hop's space and why: web and data fall back to dev, api is alice's own
jq -e '[.hops[] | "\(.caller) -> \(.service)@\(.space) (\(.reason))"] ==
	["ingress -> web@dev (fell back to dev)", "web -> api@dev/alice (own)", "api -> data@dev (fell back to dev)"]' \
	"$WORK/trace.json" >/dev/null || { echo "demo: the trace is not the request's path:" >&2; cat "$WORK/trace.json" >&2; exit 1; }
say "The story holds: alice's route reaches her api; everyone else sees dev's."
if [ $KEEP = 1 ]; then
	echo "Left running. Open http://alice.s.dev.web.localhost:$PORT/ and http://dev.web.localhost:$PORT/ in a browser."
	echo "Edit a copy of a service and run '$AZ up' in it to see saves go live; remove everything: $CTL purge"
fi
