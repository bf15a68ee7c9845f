#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's restart figures under 1,000 req/s (bench/azds-restart):
#   router kill -9 until serving again (new connections wait in the
#   listeners' backlog meanwhile), and restart-router (the old one drains).
# usage: bench/restart.sh BUILD_BIN_DIR [KILLS]   (as root; instance "bnrst")
#
# The router runs under the controller daemon (azds controller start). Each
# kill is a first crash: before it the daemon is stopped and started again
# (the new one adopts the running router and takes its listeners back from
# the shim), so no kill meets the backoff an earlier one started (a second
# crash within 60 s waits 100 ms more, by design). Kills land between
# exchanges (--quiesce): what is measured is the restart, not the exchanges
# a dead process takes with it. Prints one line per kill, then the summary:
#   router kill -9 until serving again: median X ms (min, max of N), refused R
# and, with -o json as the third argument, one JSON object instead.
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR [KILLS] [json]}
BIN=$(cd "$BIN" && pwd)
KILLS=${2:-5}
FORMAT=${3:-text}
INST=${AZDS_RESTART_INSTANCE:-bnrst}
CTL="$BIN/azds-controller -i $INST"
AZ="$BIN/azds -i $INST"
INIT="$BIN/azds-init -i $INST"
W=/tmp/azds-bench-$INST

cleanup() {
	$CTL purge >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { [ "$FORMAT" = json ] || echo "$@"; }

$CTL purge >/dev/null 2>&1
rm -rf "$W" && mkdir -p "$W" || exit 1
$AZ controller start >"$W/start.log" 2>&1 || { cat "$W/start.log" >&2; exit 1; }
$AZ space select -n dev -y >/dev/null && $AZ service add api -n dev --port 80 --target-port 8080 >/dev/null || exit 1
$AZ pod run api -n dev --service api -- "$BIN/podserver" --pod api --space dev --service api --quiet >/dev/null &&
	$AZ pod run client -n dev >/dev/null || exit 1
VIP=$($AZ service list -n dev -o json | jq -r '.items[] | select(.name == "api") | "\(.address):\(.port)"')
$INIT exec --pod client -- sysctl -qw net.ipv4.tcp_tw_reuse=1
for _ in $(seq 1 200); do
	$INIT exec --pod client -- "$BIN/azds-probe" get "$VIP" / --timeout 2 >/dev/null 2>&1 && break
	sleep 0.05
done

load() { $INIT exec --pod client -- "$BIN/azds-restart" --target "$VIP" --rate 1000 --duration 2 -o json "$@"; }
# judge OUT FIELD...: every FIELD of a load's JSON is a number >= 0, or the
# run has no figure and the benchmark fails (a missing count is not zero)
judge() {
	local out=$1 f v
	shift
	for f in "$@"; do
		v=$(echo "$out" | jq -r ".$f")
		if ! [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
			echo "azds bench restart: $f is \"$v\" in: $out" >&2
			exit 1
		fi
	done
}

ms=()
refused=0
failed=0
for k in $(seq 1 "$KILLS"); do
	# a new controller: it adopts the router and takes its listeners back
	$AZ controller stop >/dev/null && $AZ controller start >/dev/null || exit 1
	want=$(cat "/run/azds/$INST/units/router/current/pid" 2>/dev/null)
	out=$(load --new-conn --at-ms 700 --kill-pid-file "/run/azds/$INST/units/router/current/pid" --quiesce) || exit 1
	# serving again is -1 when it never was: not a number >= 0
	judge "$out" serving_again_ms refused failed requests killed_pid
	if [ "$(echo "$out" | jq -r .killed_pid)" != "${want%% *}" ]; then
		echo "azds bench restart: killed pid $(echo "$out" | jq -r .killed_pid), the router was ${want%% *}" >&2
		exit 1
	fi
	m=$(echo "$out" | jq -r .serving_again_ms)
	r=$(echo "$out" | jq -r .refused)
	f=$(echo "$out" | jq -r .failed)
	ms+=("$m")
	refused=$((refused + r))
	failed=$((failed + f))
	say "kill $k: serving again after $m ms, refused $r, failed $f of $(echo "$out" | jq -r .requests)"
done
sorted=$(printf '%s\n' "${ms[@]}" | sort -g)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
say "router kill -9 until serving again: median $median ms (min $(echo "$sorted" | head -1)," \
	"max $(echo "$sorted" | tail -1) of $KILLS), refused $refused, failed $failed"
rr=()
for mode in keep-alive new-conn; do
	args=()
	[ $mode = new-conn ] && args=(--new-conn)
	out=$(load "${args[@]}" --at-ms 700 --run "$AZ controller restart-router >/dev/null") || exit 1
	judge "$out" failed requests command_status
	if [ "$(echo "$out" | jq -r .command_status)" != 0 ]; then
		echo "azds bench restart: restart-router failed ($mode): $out" >&2
		exit 1
	fi
	rr+=("$(echo "$out" | jq -r .failed)" "$(echo "$out" | jq -r .requests)")
	say "restart-router under 1000 req/s ($mode): failed $(echo "$out" | jq -r .failed) of" \
		"$(echo "$out" | jq -r .requests), max latency $(echo "$out" | jq -r .max_ms) ms"
done
[ "$FORMAT" = json ] && printf '{"kills":%s,"serving_again_median_ms":%s,"serving_again_min_ms":%s,"serving_again_max_ms":%s,"refused":%s,"failed":%s,"restart_keepalive_failed":%s,"restart_keepalive_requests":%s,"restart_newconn_failed":%s,"restart_newconn_requests":%s}\n' \
	"$KILLS" "$median" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | tail -1)" "$refused" "$failed" \
	"${rr[0]}" "${rr[1]}" "${rr[2]}" "${rr[3]}"
exit 0
