#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's event loops (--workers): every worker's listener gets
# steered connections (TC picks one by flow hash from router_socks), each
# answers them in full, and one worker alone serves too.
INST=${AZDS_TEST_PREFIX:-}itwork
. "$(dirname "$0")/lib.sh"
setup_topology

# N fresh connections (one azds-probe each), all must reach alice's api
connections() { # N LABEL
	local good=0 r
	for i in $(seq 1 "$1"); do
		r=$(probe client-x get api:80 /w -H 'azds-route-as: alice')
		case "$r" in *pod=api-alice*) good=$((good + 1)) ;; esac
	done
	expect_eq "$2: every connection answered by api-alice" "$good" "$1"
}

for w in 2 1; do
	stop_router
	: >/run/azds/$INST/router.log
	$CTL start --router-arg --workers --router-arg $w >/dev/null || bad "start with --workers $w"
	wait_ready client-x "$(vip api)" http || bad "router with $w workers never ready"
	connections 48 "$w workers"
	stop_router
	log=$(cat /run/azds/$INST/router.log)
	expect_contains "$w workers started" "$log" "port 15001, $w worker"
	for i in $(seq 0 $((w - 1))); do
		n=$(echo "$log" | sed -n "s/^azds-router: worker $i: \([0-9]*\) requests.*/\1/p")
		if [ -n "$n" ] && [ "$n" -gt 0 ]; then ok "worker $i of $w served requests ($n)"; else bad "worker $i of $w served none: $log"; fi
	done
	$CTL start >/dev/null || bad "restart"
	wait_ready client-x "$(vip api)" http || bad "router never ready again"
done
finish
