#!/bin/bash
# SPDX-License-Identifier: MIT
# What HTTP trace capture costs (issue 9), in one run, under the controller
# daemon: keep-alive through the router from a client pod to a backend pod
# in dev/alice, interleaved ROUNDS times in four modes:
#   watched: capture on, and `azds trace -o json` following every request
#            (the reader assembles them all, the CLI prints them all);
#   recording: capture on, and `azds trace --service none-such` following:
#            every request recorded and assembled, none shown (what a
#            narrow watcher such as `azds up` costs);
#   off:     the node-wide switch off (the programs detached);
#   on:      capture on and nobody watching: the programs on the send and
#            receive calls are detached until a reader asks (what capture
#            costs when left on).
# and, pod to pod (the client pod straight to the backend pod's address, no
# router: the kernel's capture records both pods' sends and receives):
#   p2p-off, p2p-recording: as off and recording.
# For each:
#   - maximum keep-alive req/s (closed loop, 16 connections), against off;
#   - p50 at 1,000 req/s (open loop), minus off's;
#   - the reader's sustained records per second (the kernel's and the
#     routers' records it took in during the watched maximum-throughput runs,
#     per second) and records lost;
#   - the reader's own CPU per request (the controller's, from /proc) in the
#     maximum-throughput runs while recording or watched;
#   - the capture programs' own CPU time per request, from the kernel's BPF
#     statistics (kernel.bpf_stats_enabled, for one more 1,000 req/s run):
#     the programs run inside the request's send and receive calls, so this
#     is what capture adds to a request's latency in the kernel, measured
#     exactly where the p50s above differ by less than the run-to-run noise.
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
WPID=
STATS0=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
trap 'cleanup; [ -n "$WPID" ] && kill "$WPID" 2>/dev/null; sysctl -qw kernel.bpf_stats_enabled="$STATS0"' EXIT
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
POD=$($AZ pod list -n dev/alice -o json | jq -r '.items[] | select(.name == "api-alice") | "\(.address):8080"')
[[ "$POD" =~ ^[0-9.]+:8080$ ]] || { echo "azds bench trace: no address for pod api-alice ($POD)" >&2; exit 1; }
for _ in $(seq 1 200); do
	$INIT exec --pod client -- "$BIN/azds-probe" get "$VIP" / -H 'azds-route-as: alice' --timeout 2 2>/dev/null |
		grep -q api-alice && break
	sleep 0.05
done
$INIT exec --pod client -- "$BIN/azds-probe" get "$VIP" / -H 'azds-route-as: alice' --timeout 2 2>/dev/null |
	grep -q api-alice || { echo "azds bench trace: api-alice never answered through $VIP" >&2; exit 1; }

status() { $AZ controller status -o json | jq -r ".trace.$1"; }
taken() { $AZ controller status -o json | jq -r '.trace.read + .trace.decisions'; } # records taken in, both kinds
capture() { # on|off|watched|recording: and wait until the reader says so
	local want=capturing sw=on i
	[ "$1" = off ] && want=off sw=off
	$AZ controller set trace "$sw" >/dev/null || exit 1
	for i in $(seq 1 200); do [ "$(status state)" = "$want" ] && break; sleep 0.05; done
	[ "$(status state)" = "$want" ] || { echo "azds bench trace: capture did not turn $sw ($(status reason))" >&2; exit 1; }
	if [ "$1" = watched ] || [ "$1" = recording ]; then
		if [ "$1" = watched ]; then
			$AZ trace -o json >"$W/watched.out" 2>"$W/watched.err" &
		else
			$AZ trace -o json --service none-such >"$W/watched.out" 2>"$W/watched.err" &
		fi
		WPID=$!
		for i in $(seq 1 200); do [ "$(status watched)" = true ] && return 0; sleep 0.05; done
		echo "azds bench trace: azds trace did not start: $(cat "$W/watched.err")" >&2
		exit 1
	fi
	# nobody watching: the reader stops assembling 15 s after the last ask
	for i in $(seq 1 400); do [ "$(status watched)" = false ] && return 0; sleep 0.05; done
	echo "azds bench trace: the reader still counts a watcher" >&2
	exit 1
}
unwatch() { # MODE
	[ -n "$WPID" ] || return 0
	kill -INT "$WPID" 2>/dev/null
	wait "$WPID"
	WPID=
	[ "$1" != watched ] || [ -s "$W/watched.out" ] ||
		{ echo "azds bench trace: azds trace showed nothing while watched" >&2; exit 1; }
}
load() { # RATE [TARGET]: one azds-load run's JSON; a run with errors (any non-2xx answer) fails
	local out
	out=$($INIT exec --pod client -- "$BIN/azds-load" --target "${2:-$VIP}" -H 'azds-route-as: alice' \
		--duration "$DUR" --warmup 1 --connections 16 --rate "$1" -o json)
	echo "$out" | jq -e '.errors == 0' >/dev/null ||
		{ echo "azds bench trace: the load to ${2:-$VIP} had errors: $out" >&2; return 1; }
	echo "$out"
}
HZ=$(getconf CLK_TCK)
ctl_ticks() { # the controller's CPU so far, in clock ticks (all its threads)
	awk '{ print $14 + $15 }' "/proc/$(cat "/run/azds/$INST/controller.pid")/stat"
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

drop_start=$(status dropped) dmiss_start=$(status decisions_missed)
[[ "$drop_start" =~ ^[0-9]+$ ]] || drop_start=0 # not attached yet: nothing counted so far
[[ "$dmiss_start" =~ ^[0-9]+$ ]] || dmiss_start=0
RES=$W/rounds
: >"$RES"
for r in $(seq 1 "$ROUNDS"); do
	# the order turns round every other round: a run measured just after
	# another mode's ran faster or slower by its place alone (seen here:
	# the first of two alternating modes won 9 of 12 pairs either way)
	order="watched recording off on p2p-off p2p-recording"
	[ $((r % 2)) -eq 0 ] && order="p2p-recording p2p-off on off recording watched"
	for mode in $order; do
		base=${mode#p2p-} target=$VIP
		[ "$base" != "$mode" ] && target=$POD
		capture "$base"
		rec0=$(taken)
		dec0=$(status decisions)
		kr0=$(status read)
		c0=$(ctl_ticks)
		t0=$(date +%s.%N)
		out=$(load 0 "$target") || exit 1
		t1=$(date +%s.%N)
		c1=$(ctl_ticks)
		rec1=$(taken)
		dec1=$(status decisions)
		kr1=$(status read)
		# through the router, a recorded request is the router's two records; pod to pod, the
		# kernel's: none means recording broke
		case $mode in
		watched | recording) [ $((dec1 - dec0)) -gt 0 ] ||
			{ echo "azds bench trace: no router records taken in while $mode" >&2; exit 1; } ;;
		p2p-recording) [ $((kr1 - kr0)) -gt 0 ] ||
			{ echo "azds bench trace: no kernel records taken in while $mode" >&2; exit 1; } ;;
		esac
		rps=$(num "$out" achieved_rps) || exit 1
		# the ticks cover the whole load run (its start, warm-up and end): so do the requests,
		# at the rate measured (the run's own count leaves the warm-up out)
		reader_us=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v rps="$rps" -v a="$t0" -v b="$t1" \
			'BEGIN { printf "%.2f", c * 1e6 / hz / (rps * (b - a)) }')
		lat=$(load 1000 "$target") || exit 1
		p50=$(num "$lat" p50_us) || exit 1
		unwatch "$base"
		case $mode in
		watched | recording | p2p-recording) awk -v v="$reader_us" 'BEGIN { exit !(v > 0) }' ||
			{ echo "azds bench trace: the reader's CPU read $reader_us us a request while $mode" >&2; exit 1; } ;;
		esac
		echo "$r $mode $rps $p50 $((rec1 - rec0)) $t0 $t1 $reader_us" >>"$RES"
		say "  round $r capture $mode: $rps req/s, p50 at 1000/s $p50 us, reader $reader_us us/req"
	done
done
capture on
# the programs' run time and runs (all azds_tr_* programs: one instance at a time)
progs() { bpftool prog show -j | jq -r '[.[] | select(.name | startswith("azds_tr_"))] |
	"\(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"'; }
prog_cost() { # on|recording [TARGET]: "NS_PER_REQUEST RUNS_PER_REQUEST" over one 1,000 req/s run
	local ns0 cnt0 ns1 cnt1 lat nreq
	capture "$1"
	sysctl -qw kernel.bpf_stats_enabled=1 || { echo "azds bench trace: cannot enable BPF statistics" >&2; exit 1; }
	read -r ns0 cnt0 <<<"$(progs)"
	lat=$($INIT exec --pod client -- "$BIN/azds-load" --target "${2:-$VIP}" -H 'azds-route-as: alice' \
		--duration "$DUR" --warmup 0 --connections 16 --rate 1000 -o json)
	read -r ns1 cnt1 <<<"$(progs)"
	sysctl -qw kernel.bpf_stats_enabled="$STATS0"
	unwatch "$1"
	nreq=$(num "$lat" requests) || exit 1
	awk -v a="$ns0" -v b="$ns1" -v c="$cnt0" -v d="$cnt1" -v n="$nreq" \
		'BEGIN { printf "%.1f %.2f\n", (b - a) / n, (d - c) / n }'
}
cost=$(prog_cost on) || exit 1
read -r prog_ns prog_runs <<<"$cost"
cost=$(prog_cost recording) || exit 1
read -r wprog_ns wprog_runs <<<"$cost"
cost=$(prog_cost recording "$POD") || exit 1
read -r pprog_ns pprog_runs <<<"$cost"
# recording, the programs run on every send and receive: a zero is a failure; nobody
# watching, they are detached and only the one on connection state runs (a number, maybe 0)
num "{\"v\":${wprog_ns:-0}}" v >/dev/null && num "{\"v\":${wprog_runs:-0}}" v >/dev/null || exit 1
num "{\"v\":${pprog_ns:-0}}" v >/dev/null && num "{\"v\":${pprog_runs:-0}}" v >/dev/null || exit 1
[[ "${prog_runs:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "azds bench trace: program runs on are \"$prog_runs\"" >&2; exit 1; }
[[ "${prog_ns:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "azds bench trace: programs' time on is \"$prog_ns\"" >&2; exit 1; }
dropped=$(status dropped)
[[ "$dropped" =~ ^[0-9]+$ ]] ||
	{ echo "azds bench trace: the drop count is \"$dropped\"" >&2; exit 1; }
dropped=$((dropped - drop_start)) # this run's
dmissed=$(status decisions_missed)
[[ "$dmissed" =~ ^[0-9]+$ ]] ||
	{ echo "azds bench trace: the router records lost are \"$dmissed\"" >&2; exit 1; }
dmissed=$((dmissed - dmiss_start))
# no rows is a failure, never a 0
median() { sort -n | awk '{ a[NR] = $1 } END { if (!NR) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v m="$1" -v c="$2" '$2 == m { print $c }' "$RES" | median; }
on_rps=$(col on 3) off_rps=$(col off 3) wa_rps=$(col watched 3) re_rps=$(col recording 3)
on_p50=$(col on 4) off_p50=$(col off 4) wa_p50=$(col watched 4) re_p50=$(col recording 4)
rec_s=$(awk '$2 == "watched" { print $5 / ($7 - $6) }' "$RES" | median)
# each mode against off in the same round, then the median of those: this machine's
# run-to-run noise (10-30% between rounds) cancels, where a ratio of medians keeps it
paired() { # MODE COLUMN KIND [BASE]: per round, "pct" (req/s lost against BASE, default off, %) or "us" (p50 added)
	awk -v m="$1" -v c="$2" -v kind="$3" -v base="${4:-off}" '$2 == base { off[$1] = $c } $2 == m { v[$1] = $c }
		END { for (r in v) if (r in off) { if (kind == "pct") printf "%.2f\n", (off[r] - v[r]) * 100 / off[r];
			else printf "%.1f\n", v[r] - off[r] } }' "$RES" | median
}
diff_pct=$(paired on 3 pct) wa_pct=$(paired watched 3 pct) re_pct=$(paired recording 3 pct)
added=$(paired on 4 us) wa_added=$(paired watched 4 us) re_added=$(paired recording 4 us)
po_rps=$(col p2p-off 3) pr_rps=$(col p2p-recording 3) po_p50=$(col p2p-off 4) pr_p50=$(col p2p-recording 4)
pr_pct=$(paired p2p-recording 3 pct p2p-off) pr_added=$(paired p2p-recording 4 us p2p-off)
re_cpu=$(col recording 8) wa_cpu=$(col watched 8) pr_cpu=$(col p2p-recording 8)
for v in on_rps off_rps wa_rps re_rps on_p50 off_p50 wa_p50 re_p50 rec_s diff_pct wa_pct re_pct added wa_added \
	re_added po_rps pr_rps po_p50 pr_p50 pr_pct pr_added re_cpu wa_cpu pr_cpu; do
	[[ "${!v}" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || { echo "azds bench trace: $v is \"${!v}\" (no rounds gave it)" >&2; exit 1; }
done
for v in re_cpu wa_cpu pr_cpu; do
	awk -v v="${!v}" 'BEGIN { exit !(v > 0) }' ||
		{ echo "azds bench trace: the reader's CPU per request ($v) is ${!v}: the reader did nothing" >&2; exit 1; }
done
if ! awk -v v="$rec_s" 'BEGIN { exit !(v > 0) }'; then
	echo "azds bench trace: the reader took in no records while watched" >&2
	exit 1
fi
if [ "$FORMAT" = json ]; then
	jq -n --argjson on "$on_rps" --argjson off "$off_rps" --argjson d "$diff_pct" --argjson p1 "$on_p50" \
		--argjson p0 "$off_p50" --argjson a "$added" --argjson rs "$rec_s" --argjson dr "$dropped" --argjson dm "$dmissed" \
		--argjson wr "$wa_rps" --argjson wd "$wa_pct" --argjson wp "$wa_p50" --argjson wa "$wa_added" \
		--argjson rr "$re_rps" --argjson rd "$re_pct" --argjson rp "$re_p50" --argjson ra "$re_added" \
		--argjson pn "$prog_ns" --argjson pr "$prog_runs" --argjson wpn "$wprog_ns" --argjson wpr "$wprog_runs" \
		--argjson rc "$re_cpu" --argjson wc "$wa_cpu" --argjson pc "$pr_cpu" --argjson por "$po_rps" \
		--argjson prr "$pr_rps" --argjson pop "$po_p50" --argjson prp "$pr_p50" --argjson prd "$pr_pct" \
		--argjson pra "$pr_added" --argjson ppn "$pprog_ns" --argjson ppr "$pprog_runs" \
		--argjson n "$ROUNDS" '{rounds: $n, reader_us_per_request_recording: $rc, reader_us_per_request_watched: $wc,
		reader_us_per_request_p2p_recording: $pc, p2p_rps_off: $por, p2p_rps_recording: $prr,
		p2p_p50_off_us: $pop, p2p_p50_recording_us: $prp, p2p_rps_recording_diff_pct: $prd,
		p2p_p50_recording_added_us: $pra, p2p_programs_ns_per_request_recording: $ppn,
		p2p_program_runs_per_request_recording: $ppr, programs_ns_per_request: $pn, program_runs_per_request: $pr,
		programs_ns_per_request_recording: $wpn, program_runs_per_request_recording: $wpr, rps_on: $on, rps_off: $off, rps_diff_pct: $d, p50_on_us: $p1,
		p50_off_us: $p0, p50_added_us: $a, rps_watched: $wr, rps_watched_diff_pct: $wd,
		p50_watched_us: $wp, p50_watched_added_us: $wa, rps_recording: $rr, rps_recording_diff_pct: $rd,
		p50_recording_us: $rp, p50_recording_added_us: $ra, reader_records_per_s: $rs, records_dropped: $dr,
		router_records_lost: $dm}'
else
	printf '\nHTTP trace capture, keep-alive through the router (median of %s interleaved rounds, %s s each)\n' "$ROUNDS" "$DUR"
	printf '%-14s %12s %9s %14s %10s %16s %9s %14s\n' mode "max req/s" cost "p50 1000/s us" "added us" \
		"programs ns/req" "runs/req" "reader us/req"
	printf '%-14s %12s %9s %14s %10s %16s %9s %14s\n' off "$off_rps" - "$off_p50" - - - -
	printf '%-14s %12s %8s%% %14s %10s %16s %9s %14s\n' on "$on_rps" "$diff_pct" "$on_p50" "$added" "$prog_ns" \
		"$prog_runs" -
	printf '%-14s %12s %8s%% %14s %10s %16s %9s %14s\n' recording "$re_rps" "$re_pct" "$re_p50" "$re_added" \
		"$wprog_ns" "$wprog_runs" "$re_cpu"
	printf '%-14s %12s %8s%% %14s %10s %16s %9s %14s\n' watched "$wa_rps" "$wa_pct" "$wa_p50" "$wa_added" - - "$wa_cpu"
	printf '%-14s %12s %9s %14s %10s %16s %9s %14s\n' p2p-off "$po_rps" - "$po_p50" - - - -
	printf '%-14s %12s %8s%% %14s %10s %16s %9s %14s\n' p2p-recording "$pr_rps" "$pr_pct" "$pr_p50" "$pr_added" \
		"$pprog_ns" "$pprog_runs" \
		"$pr_cpu"
	printf 'reader, watched: %s records/s taken in; lost: %s kernel records (ring buffer full), %s router records (reader behind)\n' \
		"$rec_s" "$dropped" "$dmissed"
	echo "(off: the node-wide switch off; on: nobody watching, the send and receive programs detached until"
	echo " a reader asks; recording: a watcher whose filter matches nothing, so every request is recorded"
	echo " and assembled; watched: azds trace"
	echo " -o json printing every request. cost and added: against off in the same round, the median over"
	echo " the rounds; programs: their own CPU per"
	echo " request from bpf_stats, in the 1,000 req/s run; reader: the controller's CPU per request in the"
	echo " maximum-throughput runs; p2p-*: the client pod straight to the backend pod, no router, its cost"
	echo " against p2p-off)"
fi
