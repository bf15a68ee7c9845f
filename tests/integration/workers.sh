#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's event loops (--workers): with every loop open to new
# connections (--spread-busy 0) every worker's listener gets steered
# connections (TC picks one by flow hash from router_socks), each answers
# them in full, and one worker alone serves too. With the default spread
# an idle router keeps new connections on loop 0 (router_spread: TC hashes
# over the first `active` listeners), and the other loop gets none.
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
	$CTL start --router-arg --workers --router-arg $w --router-arg --spread-busy --router-arg 0 >/dev/null ||
		bad "start with --workers $w"
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

# the default spread: 48 connections one after another never make loop 0
# busy (70% of a CPU), so all of them stay there
stop_router
: >/run/azds/$INST/router.log
$CTL start --router-arg --workers --router-arg 2 >/dev/null || bad "start with --workers 2, default spread"
wait_ready client-x "$(vip api)" http || bad "router with the default spread never ready"
expect_eq "router_spread says loop 0 alone takes new connections" \
	"$(bpftool map dump pinned /sys/fs/bpf/azds/$INST/router_spread -j | jq '.[0].formatted.value.active // .[0].value.active')" 1
connections 48 "default spread"
stop_router
log=$(cat /run/azds/$INST/router.log)
n0=$(echo "$log" | sed -n "s/^azds-router: worker 0: \([0-9]*\) requests.*/\1/p")
n1=$(echo "$log" | sed -n "s/^azds-router: worker 1: \([0-9]*\) requests.*/\1/p")
if [ -n "$n0" ] && [ "$n0" -ge 48 ]; then ok "default spread: loop 0 served every connection ($n0)"; else bad "default spread: loop 0 served ${n0:-none}: $log"; fi
expect_eq "default spread: loop 1 served none" "$n1" 0
expect_contains "default spread: the router says so" "$log" "at most 1 of 2 loops"
$CTL start >/dev/null || bad "restart"
wait_ready client-x "$(vip api)" http || bad "router never ready again"
finish
