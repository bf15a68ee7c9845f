#!/bin/bash
# SPDX-License-Identifier: MIT
# What HTTP trace capture costs (issue 9), in one run, under the controller
# daemon: keep-alive through the router from a client pod to a backend pod
# in dev/alice, with capture on and off (the node-wide switch: off detaches
# the programs), interleaved ROUNDS times:
#   - maximum keep-alive req/s (closed loop, 16 connections): on / off;
#   - p50 at 1,000 req/s (open loop): on minus off;
#   - the reader's sustained records per second (kernel records it took in
#     during the maximum-throughput runs, per second) and records lost.
# usage: bench/trace.sh BUILD_BIN_DIR [SECONDS] [ROUNDS] [json]   (root; instance "bntr")
# Every figure must be a number: a missing or zero figure fails the run.
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR [SECONDS] [ROUNDS] [json]}
BIN=$(cd "$BIN" && pwd)
DUR=${2:-5}
ROUNDS=${3:-3}
FORMAT=${4:-text}
INST=${AZDS_TRACE_BENCH_INSTANCE:-bntr}
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
IPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$AZ controller start --ingress-port "$IPORT" >"$W/start.log" 2>&1 || { cat "$W/start.log" >&2; exit 1; }
$AZ space select -n dev -y >/dev/null && $AZ space select -n dev/alice -y >/dev/null || exit 1
$AZ service add api -n dev --port 80 --target-port 8080 >/dev/null &&
	$AZ service add api -n dev/alice --port 80 --target-port 8080 >/dev/null || exit 1
$AZ pod run api-alice -n dev/alice --service api -- "$BIN/podserver" --pod api-alice --space dev/alice \
	--service api --quiet >/dev/null && $AZ pod run client -n dev >/dev/null || exit 1
VIP=$($AZ service list -n dev -o json | jq -r '.items[] | select(.name == "api") | "\(.address):\(.port)"')
for _ in $(seq 1 200); do
	$INIT exec --pod client -- "$BIN/azds-probe" get "$VIP" / -H 'azds-route-as: alice' --timeout 2 2>/dev/null |
		grep -q api-alice && break
	sleep 0.05
done

status() { $AZ controller status -o json | jq -r ".trace.$1"; }
capture() { # on|off: and wait until the reader says so
	local want=capturing i
	[ "$1" = off ] && want=off
	$AZ controller set trace "$1" >/dev/null || exit 1
	for i in $(seq 1 200); do [ "$(status state)" = "$want" ] && return 0; sleep 0.05; done
	echo "azds bench trace: capture did not turn $1 ($(status reason))" >&2
	exit 1
}
load() { # RATE: one azds-load run's JSON
	$INIT exec --pod client -- "$BIN/azds-load" --target "$VIP" -H 'azds-route-as: alice' --duration "$DUR" \
		--warmup 1 --connections 16 --rate "$1" -o json
}
num() { # JSON FIELD: the number, or the run fails
	local v
	v=$(echo "$1" | jq -r ".$2")
	if ! [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v v="$v" 'BEGIN { exit !(v > 0) }'; then
		echo "azds bench trace: $2 is \"$v\" in: $1" >&2
		exit 1
	fi
	echo "$v"
}

RES=$W/rounds
: >"$RES"
for r in $(seq 1 "$ROUNDS"); do
	for mode in on off; do
		capture "$mode"
		rec0=$(status read)
		t0=$(date +%s.%N)
		out=$(load 0)
		t1=$(date +%s.%N)
		rec1=$(status read)
		rps=$(num "$out" achieved_rps) || exit 1
		lat=$(load 1000)
		p50=$(num "$lat" p50_us) || exit 1
		echo "$r $mode $rps $p50 $((rec1 - rec0)) $t0 $t1" >>"$RES"
		say "  round $r capture $mode: $rps req/s, p50 at 1000/s $p50 us"
	done
done
capture on
dropped=$(status dropped)
[[ "$dropped" =~ ^[0-9]+$ ]] || { echo "azds bench trace: the drop count is \"$dropped\"" >&2; exit 1; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
on_rps=$(awk '$2 == "on" { print $3 }' "$RES" | median)
off_rps=$(awk '$2 == "off" { print $3 }' "$RES" | median)
on_p50=$(awk '$2 == "on" { print $4 }' "$RES" | median)
off_p50=$(awk '$2 == "off" { print $4 }' "$RES" | median)
rec_s=$(awk '$2 == "on" { print $5 / ($7 - $6) }' "$RES" | median)
diff_pct=$(awk -v a="$on_rps" -v b="$off_rps" 'BEGIN { printf "%.2f", (b - a) * 100 / b }')
added=$(awk -v a="$on_p50" -v b="$off_p50" 'BEGIN { printf "%.1f", a - b }')
if ! awk -v v="$rec_s" 'BEGIN { exit !(v > 0) }'; then
	echo "azds bench trace: the reader took in no records with capture on" >&2
	exit 1
fi
if [ "$FORMAT" = json ]; then
	jq -n --argjson on "$on_rps" --argjson off "$off_rps" --argjson d "$diff_pct" --argjson p1 "$on_p50" \
		--argjson p0 "$off_p50" --argjson a "$added" --argjson rs "$rec_s" --argjson dr "$dropped" \
		--argjson n "$ROUNDS" '{rounds: $n, rps_on: $on, rps_off: $off, rps_diff_pct: $d, p50_on_us: $p1,
		p50_off_us: $p0, p50_added_us: $a, reader_records_per_s: $rs, records_dropped: $dr}'
else
	printf '\nHTTP trace capture, keep-alive through the router (median of %s interleaved rounds, %s s each)\n' "$ROUNDS" "$DUR"
	printf '%-44s %12s %12s %10s\n' measure "capture on" "capture off" difference
	printf '%-44s %12s %12s %9s%%\n' "max req/s (closed loop, 16 connections)" "$on_rps" "$off_rps" "$diff_pct"
	printf '%-44s %12s %12s %8s us\n' "p50 at 1,000 req/s (us)" "$on_p50" "$off_p50" "$added"
	printf '%-44s %12s\n' "reader: records taken in per second" "$rec_s"
	printf '%-44s %12s\n' "records dropped (ring buffer full)" "$dropped"
fi
