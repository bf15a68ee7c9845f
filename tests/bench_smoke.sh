#!/bin/bash
# SPDX-License-Identifier: MIT
# The benchmark runs end to end (short runs): every contender measured in
# every mode, no request failed, every path answered by alice's pod (the
# bench checks that before measuring). Numbers are not judged here.
set -uo pipefail
BIN=${1:?usage: $0 BUILD_BIN_DIR}
out=$("$BIN/azds" bench --duration 1 --rates 500 -o json) || { echo "FAIL azds bench exited $?"; exit 1; }
fail=0
check() { # NAME JQ-EXPR (must print true)
	if [ "$(echo "$out" | jq -r "$2")" = true ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
for c in direct azds azds-stack devspaces haproxy nginx; do
	for m in keepalive newconn max; do
		check "$c measured ($m)" "[.results[] | select(.contender == \"$c\" and .mode == \"$m\")] | length == 1"
	done
done
check "no request failed" '[.results[] | select(.load) | .load.errors] | all(. == 0)'
check "idle connections measured for azds" '[.results[] | select(.mode == "idle10k" and .contender == "azds")] | length == 1'
check "plain TCP measured both ways" '[.results[] | select(.mode == "tcp_bytes")] | length == 6'
check "scale measured" '[.results[] | select(.mode == "scale")] | length == 1'
check "summary ratios present" '[.summary[] | select(.contender == "azds" and .mode == "max")][0].rps_x_haproxy > 0'
exit $fail
