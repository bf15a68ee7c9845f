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
# router workers: azds-w1 and azds-wN at maximum throughput, side by side
WORKERS='def workers: map(select(.mode == "max" and (.contender == "azds-w1" or .contender == "azds-wN")));'
OUT=$1
RES=$2
PLOT=${3:-}
DUR=${4:-?}

if [ "$OUT" = json ]; then
	# raw results plus the ratios the tables show, per mode and rate
	jq -s --arg d "$DUR" "$CPU1K $WORKERS"'
		. as $all |
		def base(c; m; r): ($all | map(select(.contender == c and .mode == m and .rate == r))[0].load);
		{duration_s: ($d | tonumber? // $d),
		 kernel: "'"$(uname -r)"'", cpus: '"$(nproc)"',
		 summary: [$all[] | select(.load and (.contender | startswith("tcp-") | not)) |
			. as $x | base("direct"; $x.mode; $x.rate) as $dl | base("haproxy"; $x.mode; $x.rate) as $hl |
			{contender, mode, rate, p50_us: .load.p50_us, p99_us: .load.p99_us, rps: .load.achieved_rps,
			 p50_over_direct_us: (.load.p50_us - $dl.p50_us), p99_over_direct_us: (.load.p99_us - $dl.p99_us),
			 rps_x_direct: (.load.achieved_rps / $dl.achieved_rps), rps_x_haproxy: (.load.achieved_rps / $hl.achieved_rps),
			 proxy_cpu_ms_per_1k: cpu1k}],
		 workers: (workers as $w | ($w | map(select(.contender == "azds-w1"))[0]) as $one |
			($w | map(select(.contender == "azds-wN"))[0]) as $n |
			if $one == null or $n == null then
				{skipped: ([$all[] | select(.mode == "skipped") | .reason][0] // "not measured")}
			else
				{n: $n.workers, w1_rps: $one.load.achieved_rps, wn_rps: $n.load.achieved_rps,
				 rps_wn_x_w1: ($n.load.achieved_rps / $one.load.achieved_rps),
				 w1_cpu_ms_per_1k: ($one | cpu1k), wn_cpu_ms_per_1k: ($n | cpu1k)}
			end),
		 results: $all}' "$RES"
else
	echo
	echo "azds bench: $(uname -r), $(nproc) CPUs, $DUR s per run; all requests carry azds-route-as: alice"
	for mode_rate in $(jq -r 'select((.mode == "keepalive" or .mode == "newconn") and (.contender | startswith("tcp-") | not)) | "\(.mode):\(.rate)"' "$RES" | awk '!seen[$0]++'); do
		mode=${mode_rate%%:*}
		rate=${mode_rate#*:}
		echo
		if [ "$mode" = keepalive ]; then
			echo "Latency, keep-alive, open loop at $rate req/s (16 connections; corrected for coordinated omission), microseconds"
		else
			echo "Latency, a new connection per request, open loop at $rate req/s, microseconds"
		fi
		jq -rs --arg m "$mode" --argjson r "$rate" '
			(map(select(.mode == $m and .rate == $r and .contender == "direct"))[0].load) as $d |
			(map(select(.mode == $m and .rate == $r and .contender == "haproxy"))[0].load) as $h |
			def r2(x): (x * 100 | round / 100);
			["contender", "p50", "p90", "p99", "p99.9", "+p50", "+p99", "p50/haproxy", "p99/haproxy", "req/s", "errors"],
			(.[] | select(.mode == $m and .rate == $r and (.contender | startswith("tcp-") | not)) | .load as $l |
			 [.contender, $l.p50_us, $l.p90_us, $l.p99_us, $l.p999_us,
			  (($l.p50_us - $d.p50_us) * 10 | round / 10), (($l.p99_us - $d.p99_us) * 10 | round / 10),
			  r2($l.p50_us / $h.p50_us), r2($l.p99_us / $h.p99_us), ($l.achieved_rps | round), $l.errors])
			| @tsv' "$RES" | column -t -s $'\t'
	done
	echo
	echo "Throughput, keep-alive, closed loop (32 connections); proxy CPU per 1,000 requests"
	jq -rs "$CPU1K"'
		(map(select(.mode == "max" and .contender == "direct"))[0].load.achieved_rps) as $d |
		(map(select(.mode == "max" and .contender == "haproxy"))[0].load.achieved_rps) as $h |
		["contender", "req/s", "x direct", "x haproxy", "p50", "p99", "proxy CPU ms/1k req"],
		(.[] | select(.mode == "max" and (.contender | startswith("tcp-") | not)) |
		 [.contender, (.load.achieved_rps | round), ((.load.achieved_rps / $d) * 100 | round / 100),
		  ((.load.achieved_rps / $h) * 100 | round / 100), .load.p50_us, .load.p99_us,
		  (cpu1k | if . == null then "-" else (. * 1000 | round / 1000) end)])
		| @tsv' "$RES" | column -t -s $'\t'
	echo
	echo "Router event loops (--workers, every loop open to new connections: --spread-busy 0), keep-alive, closed loop (32 connections)"
	if [ "$(jq -s "$WORKERS"' workers | length' "$RES")" -gt 0 ]; then
		jq -rs "$CPU1K $WORKERS"'
			workers | (map(select(.contender == "azds-w1"))[0].load.achieved_rps) as $one |
			["contender", "workers", "req/s", "x 1 worker", "p50", "p99", "router CPU ms/1k req"],
			(.[] | [.contender, .workers, (.load.achieved_rps | round), ((.load.achieved_rps / $one) * 100 | round / 100),
			  .load.p50_us, .load.p99_us, (cpu1k | if . == null then "-" else (. * 1000 | round / 1000) end)])
			| @tsv' "$RES" | column -t -s $'\t'
	else
		jq -rs '"not measured: " + ([.[] | select(.mode == "skipped") | .reason][0] // "no results")' "$RES"
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
	jq -rs --argjson r "$rate" '.[] | select(.mode == "keepalive" and .rate == $r) |
		[.contender, .load.p50_us, .load.p90_us, .load.p99_us, .load.p999_us] | @tsv' "$RES" >"$dat"
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
