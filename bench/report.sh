#!/bin/bash
# SPDX-License-Identifier: MIT
# Render bench.sh results (JSON lines) as aligned tables, one JSON document,
# and optionally a gnuplot PNG of latency percentiles.
# usage: report.sh table|json RESULTS.jsonl [PLOT.png] [DURATION]
set -euo pipefail
# CPU ms per 1,000 requests: the proxy's CPU over the measured window
# against the responses completed in it (null where there is no proxy)
CPU1K='def cpu1k: if .proxy_cpu_s == null or (.load.achieved_rps * .load.duration_s) <= 0 then null
	else .proxy_cpu_s * 1e6 / (.load.achieved_rps * .load.duration_s) end;'
# Rounds (bench.sh --rounds): each contender is measured once per load and
# round. A figure is the median over the rounds; a difference or ratio against
# direct or HAProxy is taken within each round first (the two measured minutes
# apart, not half an hour), then its median. $all is every result.
STATS='. as $all | def med(xs): (xs | map(select(. != null)) | sort) as $s | ($s | length) as $n |
		if $n == 0 then null elif $n % 2 == 1 then $s[($n - 1) / 2] else ($s[$n / 2 - 1] + $s[$n / 2]) / 2 end;
	def same(c; x): first($all[] | select(.contender == c and .mode == x.mode and .rate == x.rate and
		.round == x.round and .load)) // null;
	def order: ["direct", "azds", "azds-nopods", "azds-stack", "devspaces", "haproxy", "nginx", "azds-w1", "azds-wN"];
	def rank: . as $c | (order | index($c)) // 99;
	def summ(g): g[0] as $f | [g[] | . as $x | {x: $x, d: same("direct"; $x), h: same("haproxy"; $x)}] as $p |
		{contender: $f.contender, mode: $f.mode, rate: $f.rate, rounds: (g | length),
		 p50_us: med([g[].load.p50_us]), p90_us: med([g[].load.p90_us]), p99_us: med([g[].load.p99_us]),
		 p999_us: med([g[].load.p999_us]), rps: med([g[].load.achieved_rps]), errors: ([g[].load.errors] | add),
		 p50_over_direct_us: med([$p[] | select(.d) | .x.load.p50_us - .d.load.p50_us]),
		 p50_over_direct_min_us: ([$p[] | select(.d) | .x.load.p50_us - .d.load.p50_us] | min),
		 p50_over_direct_max_us: ([$p[] | select(.d) | .x.load.p50_us - .d.load.p50_us] | max),
		 p99_over_direct_us: med([$p[] | select(.d) | .x.load.p99_us - .d.load.p99_us]),
		 p50_x_haproxy: med([$p[] | select(.h) | .x.load.p50_us / .h.load.p50_us]),
		 p99_x_haproxy: med([$p[] | select(.h) | .x.load.p99_us / .h.load.p99_us]),
		 rps_x_direct: med([$p[] | select(.d) | .x.load.achieved_rps / .d.load.achieved_rps]),
		 rps_x_haproxy: med([$p[] | select(.h) | .x.load.achieved_rps / .h.load.achieved_rps]),
		 p50_below_haproxy_rounds: ([$p[] | select(.h and .x.load.p50_us < .h.load.p50_us)] | length),
		 rps_above_haproxy_rounds: ([$p[] | select(.h and .x.load.achieved_rps > .h.load.achieved_rps)] | length),
		 proxy_cpu_ms_per_1k: med([g[] | cpu1k])} + (if $f.workers then {workers: $f.workers} else {} end);
	def summary: [$all[] | select(.load and (.contender | startswith("tcp-") | not))] |
		group_by([.mode, .rate, (.contender | rank), .contender]) | map(summ(.));'
# router workers: azds-w1 and azds-wN at maximum throughput, side by side
WORKERS='def workers: summary | map(select(.mode == "max" and (.contender == "azds-w1" or .contender == "azds-wN")));'
OUT=$1
RES=$2
PLOT=${3:-}
DUR=${4:-?}

if [ "$OUT" = json ]; then
	# raw results plus the ratios the tables show, per mode and rate
	jq -s --arg d "$DUR" "$CPU1K $STATS $WORKERS"'
		{duration_s: ($d | tonumber? // $d),
		 rounds: ([$all[] | select(.load and (.contender | startswith("tcp-") | not)) | .round] | max),
		 kernel: "'"$(uname -r)"'", cpus: '"$(nproc)"',
		 summary: summary,
		 workers: (workers as $w | ($w | map(select(.contender == "azds-w1"))[0]) as $one |
			($w | map(select(.contender == "azds-wN"))[0]) as $n |
			if $one == null or $n == null then
				{missing: "azds-w1 or azds-wN was not measured"}
			else
				{n: $n.workers, rounds: $n.rounds, w1_rps: $one.rps, wn_rps: $n.rps,
				 rps_wn_x_w1: med([$all[] | select(.contender == "azds-wN" and .mode == "max") | . as $x |
					same("azds-w1"; $x) as $o | select($o) | $x.load.achieved_rps / $o.load.achieved_rps]),
				 w1_cpu_ms_per_1k: $one.proxy_cpu_ms_per_1k, wn_cpu_ms_per_1k: $n.proxy_cpu_ms_per_1k}
			end),
		 results: $all}' "$RES"
else
	echo
	NR=$(jq -s '[.[] | select(.load and (.contender | startswith("tcp-") | not)) | .round] | max // 0' "$RES")
	echo "azds bench: $(uname -r), $(nproc) CPUs, $DUR s per run, $NR round(s); all requests carry azds-route-as: alice"
	if [ "$NR" -gt 1 ]; then
		echo "Each figure is the median over the rounds; +p50, +p99 and the ratios are taken within each round"
		echo "(against direct or HAProxy measured in that round), then their median. \"+p50 range\" is the"
		echo "rounds' lowest and highest +p50; \"rounds <haproxy\" counts the rounds whose p50 (req/s for the"
		echo "maximum: above) beat HAProxy's in the same round."
	fi
	# tables: the summary's rows for one mode (and rate), in the bench's order
	table() { # JQ-ROW-FILTER (on a summary row, prints the header when given "head")
		jq -rs "$CPU1K $STATS"'def r1(x): if x == null then "-" else (x * 10 | round / 10) end;
			def r2(x): if x == null then "-" else (x * 100 | round / 100) end;
			def r3(x): if x == null then "-" else (x * 1000 | round / 1000) end; '"$1" "$RES" | column -t -s $'\t'
	}
	for mode_rate in $(jq -r 'select((.mode == "keepalive" or .mode == "newconn") and (.contender | startswith("tcp-") | not)) | "\(.mode):\(.rate)"' "$RES" | awk '!seen[$0]++'); do
		mode=${mode_rate%%:*}
		rate=${mode_rate#*:}
		echo
		if [ "$mode" = keepalive ]; then
			echo "Latency, keep-alive, open loop at $rate req/s (16 connections; corrected for coordinated omission), microseconds"
		else
			echo "Latency, a new connection per request, open loop at $rate req/s, microseconds"
		fi
		table '["contender", "p50", "p90", "p99", "p99.9", "+p50", "+p50 range", "+p99", "p50/haproxy", "p99/haproxy",
			 "rounds <haproxy", "req/s", "errors"],
			(summary[] | select(.mode == "'"$mode"'" and .rate == '"$rate"') |
			 [.contender, r1(.p50_us), r1(.p90_us), r1(.p99_us), r1(.p999_us), r1(.p50_over_direct_us),
			  "\(r1(.p50_over_direct_min_us))..\(r1(.p50_over_direct_max_us))", r1(.p99_over_direct_us),
			  r2(.p50_x_haproxy), r2(.p99_x_haproxy),
			  (if .contender == "haproxy" then "-" else "\(.p50_below_haproxy_rounds)/\(.rounds)" end),
			  (.rps | round), .errors]) | @tsv'
	done
	echo
	echo "Throughput, keep-alive, closed loop (32 connections); proxy CPU per 1,000 requests"
	table '["contender", "req/s", "x direct", "x haproxy", "rounds >haproxy", "p50", "p99", "proxy CPU ms/1k req"],
		(summary[] | select(.mode == "max" and (.contender | startswith("azds-w") | not)) |
		 [.contender, (.rps | round), r2(.rps_x_direct), r2(.rps_x_haproxy),
		  (if .contender == "haproxy" then "-" else "\(.rps_above_haproxy_rounds)/\(.rounds)" end),
		  r1(.p50_us), r1(.p99_us), r3(.proxy_cpu_ms_per_1k)]) | @tsv'
	echo
	echo "Router event loops (--workers, every loop open to new connections: --spread-busy 0), keep-alive, closed loop (32 connections)"
	if [ "$(jq -s "$CPU1K $STATS $WORKERS"' workers | length' "$RES")" -gt 0 ]; then
		table "$WORKERS"' workers | (map(select(.contender == "azds-w1"))[0].rps) as $one |
			["contender", "workers", "req/s", "x 1 worker", "x haproxy", "p50", "p99", "router CPU ms/1k req"],
			(.[] | [.contender, .workers, (.rps | round), r2(.rps / $one), r2(.rps_x_haproxy),
			  r1(.p50_us), r1(.p99_us), r3(.proxy_cpu_ms_per_1k)]) | @tsv'
	else
		echo "not measured (azds-w1 or azds-wN missing: the run failed)"
	fi
	echo
	echo "Memory with idle client connections (10,000 unless the descriptor limit allows fewer)"
	jq -rs '["contender", "idle conns", "RSS before kB", "RSS with idle kB", "bytes/conn"],
		(.[] | select(.mode == "idle10k") |
		 [.contender, .conns, .rss_before_kb, .rss_kb, (((.rss_kb - .rss_before_kb) * 1024 / .conns) | round)])
		| @tsv' "$RES" | column -t -s $'\t'
	echo
	echo "Plain TCP: the kernel balancer (cgroup/connect4) against direct (median of 3 interleaved runs)"
	jq -rs '
		def med(xs): (xs | sort) as $s | $s[($s | length) / 2 | floor];
		def v(c; m): map(select(.contender == c and .mode == m)) as $r |
			{bits_per_second: med([$r[].bits_per_second // 0]),
			 load: {achieved_rps: med([$r[].load.achieved_rps // 0])}};
		["measure", "direct", "kernel-lb", "ratio"],
		(["throughput Gbit/s", (v("tcp-direct"; "tcp_bytes").bits_per_second / 1e9 * 100 | round / 100),
		  (v("tcp-kernel-lb"; "tcp_bytes").bits_per_second / 1e9 * 100 | round / 100),
		  ((v("tcp-kernel-lb"; "tcp_bytes").bits_per_second / v("tcp-direct"; "tcp_bytes").bits_per_second) * 1000 | round / 1000)]),
		(["connections/s (new conn per request)", (v("tcp-direct"; "newconn").load.achieved_rps | round),
		  (v("tcp-kernel-lb"; "newconn").load.achieved_rps | round),
		  ((v("tcp-kernel-lb"; "newconn").load.achieved_rps / v("tcp-direct"; "newconn").load.achieved_rps) * 1000 | round / 1000)]),
		(["requests/s on kept connections", (v("tcp-direct"; "max").load.achieved_rps | round),
		  (v("tcp-kernel-lb"; "max").load.achieved_rps | round),
		  ((v("tcp-kernel-lb"; "max").load.achieved_rps / v("tcp-direct"; "max").load.achieved_rps) * 1000 | round / 1000)])
		| @tsv' "$RES" | column -t -s $'\t'
	echo
	echo "Scale: spaces x services loaded into the maps; one routing change (a backend added)"
	jq -rs '["spaces", "services/space", "entries", "load s", "routing change ms"],
		(.[] | select(.mode == "scale") | [.spaces, .services_per_space, .entries, .load_s, .routing_change_ms])
		| @tsv' "$RES" | column -t -s $'\t'
	echo
	echo "Controller, through its API: a change until the maps have it; spaces x services created; reconcile after a reboot"
	jq -rs '["change p50 ms", "change p99 ms", "spaces", "services/space", "create s", "reboot reconcile s"],
		(.[] | select(.mode == "controller") | [.change_p50_ms, .change_p99_ms, .spaces, .services_per_space,
		 .create_s, .reboot_reconcile_s]) | @tsv' "$RES" | column -t -s $'\t'
	echo
	echo "Router restarts under the daemon at 1,000 req/s (new connections wait in the listeners' backlog)"
	jq -rs '["kill -9 until serving: median ms", "min", "max", "kills", "refused", "failed",
		 "restart-router failed (keep-alive)", "(new connections)"],
		(.[] | select(.mode == "restart") | [.serving_again_median_ms, .serving_again_min_ms,
		 .serving_again_max_ms, .kills, .refused, .failed,
		 "\(.restart_keepalive_failed)/\(.restart_keepalive_requests)",
		 "\(.restart_newconn_failed)/\(.restart_newconn_requests)"]) | @tsv' "$RES" | column -t -s $'\t'
fi

if [ -n "$PLOT" ]; then
	rate=$(jq -rs 'map(select(.mode == "keepalive"))[0].rate' "$RES")
	dat=$(mktemp)
	jq -rs --argjson r "$rate" "$CPU1K $STATS"' summary[] | select(.mode == "keepalive" and .rate == $r) |
		[.contender, .p50_us, .p90_us, .p99_us, .p999_us] | @tsv' "$RES" >"$dat"
	n=$(wc -l <"$dat")
	{
		echo "set terminal pngcairo size 1000,600 noenhanced font 'sans,10'"
		echo "set output '$PLOT'"
		echo "set title 'Latency percentiles at $rate req/s, keep-alive, open loop (azds-route-as: alice)'"
		echo "set ylabel 'microseconds'"
		echo "set logscale y"
		echo "set grid ytics"
		echo "set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3)"
		echo "set key outside right"
		printf "plot "
		for i in $(seq 1 "$n"); do
			name=$(sed -n "${i}p" "$dat" | cut -f1)
			printf "'< sed -n %sp %s | tr \"\\\\t\" \"\\\\n\" | tail -n 4' using 0:1 with linespoints lw 2 title '%s'" "$i" "$dat" "$name"
			[ "$i" -lt "$n" ] && printf ", "
		done
		echo
	} >"$dat.gp"
	gnuplot "$dat.gp" 2>&1 | grep -v '^$' >&2 || true
	rm -f "$dat" "$dat.gp"
	[ "$OUT" = table ] && echo && echo "plot: $PLOT"
fi
exit 0
