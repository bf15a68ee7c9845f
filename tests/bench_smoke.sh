#!/bin/bash
# SPDX-License-Identifier: MIT
# The benchmark runs end to end (short runs): every contender measured in
# every mode, no request failed, every path answered by alice's pod (the
# bench checks that before measuring), and every figure there: a figure that
# is missing, zero or negative where only a positive value is possible is a
# broken measurement (a wrapper's pid measured, a cgroup never read, a
# counter that never moved). Two rounds, so that the medians and the
# within-round ratios are computed from more than one result each. How good
# the numbers are is not judged here.
set -uo pipefail
BIN=${1:?usage: $0 BUILD_BIN_DIR}
# AZDS_BENCH_JSON=FILE judges a saved 'azds bench -o json' instead of running one
if [ -n "${AZDS_BENCH_JSON:-}" ]; then
	out=$(cat "$AZDS_BENCH_JSON") || exit 1
else
	out=$("$BIN/azds" bench --duration 1 --rounds 2 --rates 500 -o json --instance "${AZDS_TEST_PREFIX:-}bench") || { echo "FAIL azds bench exited $?"; exit 1; }
fi
R=2
fail=0
check() { # NAME JQ-EXPR (must print true)
	if [ "$(echo "$out" | jq -r "$2")" = true ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
# figures NAME SELECT FIELD...: every record SELECT picks (at least one) has
# every FIELD (a jq path) as a number > 0; the failures are listed
figures() {
	local name=$1 sel=$2 paths bad
	shift 2
	paths=$(printf '%s,' "$@")
	bad=$(echo "$out" | jq -r --arg paths "${paths%,}" "
		[.results[] | select($sel)] as \$rs |
		if (\$rs | length) == 0 then \"no record\" else
		\$rs[] | . as \$r | \$paths | split(\",\")[] as \$p |
		(\$r | getpath(\$p | split(\".\"))) as \$v |
		select((\$v | type) != \"number\" or \$v <= 0) |
		\"\(\$r.contender) \(\$r.mode) \(\$r.rate // \"\"): \(\$p) = \(\$v)\" end")
	if [ -z "$bad" ]; then
		echo "ok   $name"
	else
		echo "FAIL $name:"
		echo "$bad" | sed 's/^/       /'
		fail=1
	fi
}
LOAD=(load.requests load.achieved_rps load.duration_s load.connections load.p50_us load.p90_us load.p99_us
	load.p999_us load.max_us load.mean_us)

for c in direct azds azds-nopods azds-stack devspaces haproxy nginx; do
	for m in keepalive newconn max; do
		check "$c measured once a round ($m)" \
			"[.results[] | select(.contender == \"$c\" and .mode == \"$m\") | .round] | sort == [range(1; $R + 1)]"
	done
	if [ "$c" = direct ]; then
		figures "$c: latency and rate figures" ".contender == \"$c\" and .load" "${LOAD[@]}"
		check "$c: no proxy CPU (there is no proxy)" \
			"[.results[] | select(.contender == \"$c\" and .load) | .proxy_cpu_s] | all(. == null)"
	else
		figures "$c: latency, rate and proxy CPU figures" ".contender == \"$c\" and .load" "${LOAD[@]}" proxy_cpu_s
	fi
done

# router event loops: one worker and one per CPU, every round
for c in azds-w1 azds-wN; do
	check "$c measured once a round (max)" \
		"[.results[] | select(.contender == \"$c\" and .mode == \"max\") | .round] | sort == [range(1; $R + 1)]"
	figures "$c: latency, rate, router CPU and worker figures" ".contender == \"$c\"" "${LOAD[@]}" proxy_cpu_s workers
done
check "azds-w1 runs 1 worker, azds-wN $(nproc)" \
	"([.results[] | select(.contender == \"azds-w1\")][0].workers == 1) and ([.results[] | select(.contender == \"azds-wN\")][0].workers == $(nproc))"
bad=$(echo "$out" | jq -r '.workers | to_entries[] | select((.value | type) != "number" or .value <= 0) | "\(.key) = \(.value)"')
if [ -z "$bad" ] && [ "$(echo "$out" | jq -r '.workers.n')" = "$(nproc)" ]; then
	echo "ok   workers summary figures"
else
	echo "FAIL workers summary figures: $(echo "$out" | jq -c .workers)"
	fail=1
fi

check "no request failed" '[.results[] | select(.load) | .load.errors] | all(. == 0)'
check "no latency sample dropped" '[.results[] | select(.load) | .load.dropped_samples] | all(. == 0)'
for c in azds haproxy nginx; do
	figures "$c: idle connections and RSS measured" ".mode == \"idle10k\" and .contender == \"$c\"" \
		conns rss_before_kb rss_kb
	check "$c: RSS grows with idle connections" \
		"[.results[] | select(.mode == \"idle10k\" and .contender == \"$c\")] | length == 1 and all(.rss_kb > .rss_before_kb)"
done
check "plain TCP measured both ways" '[.results[] | select(.mode == "tcp_bytes")] | length == 6'
figures "plain TCP throughput figures" '.mode == "tcp_bytes"' bits_per_second
for c in tcp-direct tcp-kernel-lb; do
	for m in max newconn; do
		check "$c measured 3 times ($m)" "[.results[] | select(.contender == \"$c\" and .mode == \"$m\")] | length == 3"
	done
	figures "$c: rate and latency figures" ".contender == \"$c\" and .load" "${LOAD[@]}"
done
check "scale measured" '[.results[] | select(.mode == "scale")] | length == 1'
figures "scale figures" '.mode == "scale"' spaces services_per_space entries load_s routing_change_ms
check "controller measured" '[.results[] | select(.mode == "controller")] | length == 1'
figures "controller figures" '.mode == "controller"' changes change_p50_ms change_p99_ms spaces services_per_space \
	create_s reboot_reconcile_s
check "router restarts measured" '[.results[] | select(.mode == "restart")] | length == 1'
figures "router restart figures" '.mode == "restart"' kills serving_again_median_ms serving_again_min_ms \
	serving_again_max_ms restart_keepalive_requests restart_newconn_requests
check "no connection refused or request failed through the router's restarts" \
	'[.results[] | select(.mode == "restart")][0] | .refused == 0 and .failed == 0 and .restart_keepalive_failed == 0 and .restart_newconn_failed == 0'

# the summary: every ratio and per-request CPU present
check "summary has every measured contender and mode, each over $R rounds" \
	"(.summary | length) == ([.results[] | select(.load and (.contender | startswith(\"tcp-\") | not)) |
	  [.contender, .mode, .rate]] | unique | length) and (.summary | all(.rounds == $R)) and .rounds == $R"
bad=$(echo "$out" | jq -r '.summary[] | . as $s |
	(["p50_us", "p99_us", "rps", "rps_x_direct", "rps_x_haproxy", "p50_x_haproxy"] +
	 (if .contender == "direct" then [] else ["proxy_cpu_ms_per_1k"] end))[] as $f |
	select(($s[$f] | type) != "number" or $s[$f] <= 0) | "\($s.contender) \($s.mode) \($s.rate): \($f) = \($s[$f])"')
if [ -z "$bad" ]; then echo "ok   summary figures"; else echo "FAIL summary figures:"; echo "$bad" | sed 's/^/       /'; fail=1; fi
check "run description" '(.duration_s > 0) and (.cpus > 0) and (.kernel | length > 0)'
exit $fail
