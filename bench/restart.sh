#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's restart figures under 1,000 req/s (bench/azds-restart):
#   router kill -9 until serving again (new connections wait in the
#   listeners' backlog meanwhile), and restart-router (the old one drains).
# usage: bench/restart.sh BUILD_BIN_DIR [KILLS]   (as root; instance "bnrst")
#
# The router runs under the supervisor (tests/controller/routerd_harness,
# the daemon's router unit). Each kill is a first crash: before it a fresh
# supervisor adopts the running router, as a restarted controller does, so
# no kill meets the backoff an earlier one started (a second crash within
# 60 s waits 100 ms more, by design). Kills land between exchanges
# (--quiesce): what is measured is the restart, not the exchanges a dead
# process takes with it. Prints one line per kill, then the summary:
#   router kill -9 until serving again: median X ms (min, max of N), refused R
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR [KILLS]}
BIN=$(cd "$BIN" && pwd)
KILLS=${2:-5}
INST=bnrst
CTL="$BIN/azds-controller -i $INST"
INIT="$BIN/azds-init -i $INST"
W=/tmp/azds-bench-$INST
EV=$W/events
UNIT=/run/azds/$INST/units/router
HPID=

harness() {
	"$BIN/routerd_harness" -i $INST --bin "$BIN" --ctl "$W/ctl" --events "$EV" >>"$W/harness.log" 2>&1 &
	HPID=$!
	for _ in $(seq 1 500); do
		[ "$(grep -c '^ready pid=' "$EV" 2>/dev/null)" -gt "${1:-0}" ] && return 0
		sleep 0.02
	done
	echo "azds bench restart: the router did not start: $(tail -2 "$EV")" >&2
	return 1
}

cleanup() {
	if [ -n "$HPID" ] && kill -0 "$HPID" 2>/dev/null; then
		echo stop >"$W/ctl"
		for _ in $(seq 1 500); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.02; done
	fi
	$CTL stop >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$CTL stop >/dev/null 2>&1
rm -rf "$W" && mkdir -p "$W" || exit 1
$CTL start --no-router >"$W/start.log" 2>&1 || { cat "$W/start.log" >&2; exit 1; }
$CTL space add dev >/dev/null && $CTL service add dev api --port 80 --target-port 8080 >/dev/null || exit 1
$INIT add --pod api --space dev --service api >/dev/null && $INIT add --pod client --space dev >/dev/null || exit 1
$INIT exec --pod api -- "$BIN/podserver" --pod api --space dev --service api --listen 0.0.0.0:8080 >"$W/pod.log" 2>&1 &
disown
VIP=$($CTL service list | awk '$1 == "dev" && $2 == "api" { print $4 }')
$INIT exec --pod client -- sysctl -qw net.ipv4.tcp_tw_reuse=1
harness 0 || exit 1
for _ in $(seq 1 200); do
	$INIT exec --pod client -- "$BIN/azds-probe" get "$VIP" / --timeout 2 >/dev/null 2>&1 && break
	sleep 0.05
done

load() { $INIT exec --pod client -- "$BIN/azds-restart" --target "$VIP" --rate 1000 --duration 2 -o json "$@"; }

ms=()
refused=0
failed=0
for k in $(seq 1 "$KILLS"); do
	# a new supervisor: it adopts the router and takes its listeners back
	kill -9 "$HPID"
	wait "$HPID" 2>/dev/null
	harness "$k" || exit 1
	out=$(load --new-conn --at-ms 700 --kill-pid-file "$UNIT/current/pid" --quiesce) || exit 1
	m=$(echo "$out" | jq -r .serving_again_ms)
	r=$(echo "$out" | jq -r .refused)
	f=$(echo "$out" | jq -r .failed)
	ms+=("$m")
	refused=$((refused + r))
	failed=$((failed + f))
	echo "kill $k: serving again after $m ms, refused $r, failed $f of $(echo "$out" | jq -r .requests)"
done
sorted=$(printf '%s\n' "${ms[@]}" | sort -g)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "router kill -9 until serving again: median $median ms (min $(echo "$sorted" | head -1)," \
	"max $(echo "$sorted" | tail -1) of $KILLS), refused $refused, failed $failed"
for mode in keep-alive new-conn; do
	args=()
	[ $mode = new-conn ] && args=(--new-conn)
	out=$(load "${args[@]}" --at-ms 700 --run "echo restart >$W/ctl") || exit 1
	echo "restart-router under 1000 req/s ($mode): failed $(echo "$out" | jq -r .failed) of" \
		"$(echo "$out" | jq -r .requests), max latency $(echo "$out" | jq -r .max_ms) ms"
done
