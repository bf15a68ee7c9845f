#!/bin/bash
# SPDX-License-Identifier: MIT
# The router under constant load (1,000 req/s) through a kill -9 and
# through a restart, under the real daemon (azds controller start): the
# controller owns the router's listeners and hands them to every router
# process (azds-router --listen-fds), so connections that arrive while a
# router restarts wait in the backlog, and a replaced router drains.
# Every request is counted (bench/azds-restart): ok, refused, reset, bad
# status, timeout. What the supervisor did is read from the daemon's
# status (azds controller status -o json: the router's state, pid,
# restarts and last signal).
#
#   kill -9 between exchanges, new connections: zero failures
#   kill -9 at any moment, new connections: zero refused (an exchange the
#     dead process held dies with it; counted and shown, not judged)
#   azds controller restart-router, keep-alive and new connections: zero
#     failures; a held exchange, a kept-alive connection and a websocket
#     through the drain of the old router
#   kill -9 of the controller: zero failures; the next one adopts the
#     router, and a kill -9 under it again fails nothing
# The time from kill -9 until serving again is printed, never judged.
INST=${AZDS_TEST_PREFIX:-}itrrst
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds -i $INST"
RPID=/run/azds/$INST/router.pid
RLOG=/run/azds/$INST/router.log
RATE=1000
DUR=3

# purge: the daemon, the router, DNS, pods and the store of this instance
# (also what a crashed earlier run left)
cleanup() {
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
mkdir -p "$WORK" || exit 1

start_ctl() {
	$AZDS controller start "$@" >>"$WORK/start.log" 2>&1 ||
		{ cat "$WORK/start.log" "/run/azds/$INST/controller.log" 2>/dev/null; exit 1; }
}

# the daemon's status, kept in $WORK/status.json; rs FIELD: a field of
# its router ("null" when absent)
status() { $AZDS controller status -o json >"$WORK/status.json" 2>"$WORK/status.err"; }
rs() { jq -r ".router.$1" "$WORK/status.json" 2>/dev/null; }
rshow() { jq -c .router "$WORK/status.json" 2>/dev/null || cat "$WORK/status.err"; }

# wait_router JQ: until the router's status satisfies the jq condition
# (bounded polling; readiness only, never a pass/fail on time)
wait_router() {
	local i
	for i in $(seq 1 500); do
		status && jq -e ".router | $1" "$WORK/status.json" >/dev/null 2>&1 && return 0
		sleep 0.02
	done
	return 1
}

# gone PID: until the process has ended (bounded)
gone() {
	local i
	for i in $(seq 1 500); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.02
	done
	return 1
}

# an idle kept-alive client gets 10 s to send its next request during a
# drain (the check below sends it once the drain has begun), tunnels 30 s
start_ctl --router-arg --drain-idle-ms --router-arg 10000 --router-arg --drain-timeout-ms --router-arg 30000
$AZDS space select -n dev -y >/dev/null || { bad "space select -n dev"; finish; exit 1; }
$AZDS service add api -n dev --port 80 --target-port 8080 >/dev/null || { bad "service add api"; finish; exit 1; }
$AZDS pod run api-dev -n dev --service api -- "$BIN/podserver" --pod api-dev --space dev --service api >/dev/null &&
	$AZDS pod run client -n dev >/dev/null || { bad "pod run"; finish; exit 1; }
VIP=$($AZDS service list -n dev -o json | jq -r '.items[] | select(.name == "api") | "\(.address):\(.port)"')
# the client's TIME_WAIT ports are reused: thousands of new connections a run
in_pod client sysctl -qw net.ipv4.tcp_tw_reuse=1

wait_router '.state == "running" and .pid > 0' && ok "the controller started the router ($(rs pid))" ||
	{ bad "router not running: $(rshow)"; finish; exit 1; }
expect_contains "the router runs with the controller's listeners" "$(cat "$RLOG")" "(inherited listeners)"
expect_eq "router.pid names the router the status shows" "$(cat "$RPID" 2>/dev/null)" "$(rs pid)"
wait_ready client "$VIP" http || bad "the service never answered through the router"
expect_contains "a request is routed to the dev pod" "$(probe client get "$VIP" /hello)" "pod=api-dev"

# run NAME ARGS...: the load from the client pod; its JSON in $WORK/NAME.json
run() {
	local name=$1
	shift
	in_pod client "$BIN/azds-restart" --target "$VIP" --path "/$name" --rate $RATE --duration $DUR -o json "$@" \
		>"$WORK/$name.json" 2>"$WORK/$name.err"
}
val() { jq -r ".$2" "$WORK/$1.json" 2>/dev/null; }
summary() {
	echo "     $1: $(val "$1" requests) requests, ok $(val "$1" ok), refused $(val "$1" refused)," \
		"reset $(val "$1" reset), bad status $(val "$1" bad_status), timeout $(val "$1" timeouts);" \
		"max latency $(val "$1" max_ms) ms"
	[ -s "$WORK/$1.err" ] && grep -v " Killed " "$WORK/$1.err" | sed 's/^/     /' | head -5
}
all_ok() { # NAME LABEL
	summary "$1"
	expect_eq "$2: every request answered 200" "$(val "$1" failed)" 0
	expect_eq "$2: all $((RATE * DUR)) requests counted" "$(val "$1" ok)" $((RATE * DUR))
}

# the load alone: nothing fails without an event
run baseline
all_ok baseline "no event"

# (a) kill -9, between exchanges. The supervisor's restarts count the
# kills only: a crash, or a restart-router counted as one, shows here.
kills=0
status
old=$(rs pid)
run kill --new-conn --at-ms 1000 --kill-pid-file "$RPID" --quiesce
all_ok kill "kill -9 between exchanges"
expect_eq "kill -9: the process killed was the router" "$(val kill killed_pid)" "$old"
kills=$((kills + 1))
wait_router ".state == \"running\" and .pid != $old and .restarts == $kills" &&
	ok "kill -9: a new router ($(rs pid)) replaced $old" || bad "kill -9: no new router: $(rshow)"
expect_eq "kill -9: the controller saw SIGKILL (last_signal)" "$(rs last_signal)" 9
expect_eq "kill -9: router.pid names the new router" "$(cat "$RPID" 2>/dev/null)" "$(rs pid)"
echo "     router kill -9 until serving again: $(val kill serving_again_ms) ms, refused $(val kill refused)"

# (a') kill -9 wherever it lands: nothing is refused
old=$(rs pid)
run kill_any --new-conn --at-ms 1000 --kill-pid-file "$RPID"
summary kill_any
expect_eq "kill -9 at any moment: the process killed was the router" "$(val kill_any killed_pid)" "$old"
expect_eq "kill -9 at any moment: no connection refused" "$(val kill_any refused)" 0
expect_eq "kill -9 at any moment: no timeout" "$(val kill_any timeouts)" 0
echo "     exchanges the killed router held (lost with it): $(val kill_any reset)," \
	"serving again after $(val kill_any serving_again_ms) ms"
kills=$((kills + 1))
wait_router ".state == \"running\" and .pid != $old and .restarts == $kills and .last_signal == 9" &&
	ok "kill -9 at any moment: restarted ($old -> $(rs pid))" || bad "kill -9 at any moment: not restarted: $(rshow)"

# (b) azds controller restart-router: the new router gets the listeners,
# the old one drains
for mode in keepalive newconn; do
	status
	old=$(rs pid)
	args=()
	[ $mode = newconn ] && args=(--new-conn)
	run "restart_$mode" "${args[@]}" --at-ms 1000 --run "$AZDS controller restart-router >$WORK/rr_$mode.out 2>&1"
	all_ok "restart_$mode" "restart ($mode)"
	expect_eq "restart ($mode): azds controller restart-router succeeded" "$(val "restart_$mode" command_status)" 0
	expect_contains "restart ($mode): it replaced $old" "$(cat "$WORK/rr_$mode.out")" "Router restarted: pid $old -> "
	new=$(sed -n 's/.* -> \([0-9]*\)\.$/\1/p' "$WORK/rr_$mode.out")
	wait_router ".state == \"running\" and .pid == ${new:-0} and .pid != $old" &&
		ok "restart ($mode): the status shows the new router ($new)" || bad "restart ($mode): $(rshow)"
	expect_eq "restart ($mode): not counted as a restart after an exit" "$(rs restarts)" $kills
	expect_eq "restart ($mode): router.pid names the new router" "$(cat "$RPID" 2>/dev/null)" "$new"
	gone "$old" && ok "restart ($mode): the old router ($old) drained and is gone" ||
		bad "restart ($mode): the old router ($old) still runs"
done
expect_contains "the replaced routers drained" "$(cat "$RLOG")" "SIGTERM: draining"

# (c) what a drain does with what the old router holds: an exchange in
# flight (a request the backend holds until /poke) finishes, its response
# saying Connection: close; a request that comes on a kept-alive
# connection is answered likewise; an open websocket keeps the old router
# (idle, not spinning) until it closes
wait_for() { # FILE TEXT
	local i
	for i in $(seq 1 500); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}
status
old=$(rs pid)
rm -f "$WORK/go_ka" "$WORK/go_ws"
probe client get "$VIP" /hold -i >"$WORK/hold.out" 2>&1 &
HOLD=$!
probe client get "$VIP" /first -i --then /second --wait-file "$WORK/go_ka" >"$WORK/ka.out" 2>&1 &
KA=$!
probe client hold "$VIP" ws:/ --wait-file "$WORK/go_ws" >"$WORK/ws.out" 2>&1 &
WS=$!
for i in $(seq 1 200); do
	probe client get "$VIP" '/seen?path=/hold' | grep -q 'seen=1' && break
	sleep 0.02
done
wait_for "$WORK/ka.out" "path=/first" && wait_for "$WORK/ws.out" "held 1" &&
	ok "drain: a held exchange, a kept-alive connection and a websocket on router $old" ||
	bad "drain: setup: $(cat "$WORK/ka.out" "$WORK/ws.out")"
nd=$(grep -c 'SIGTERM: draining' "$RLOG")
out=$($AZDS controller restart-router 2>&1)
expect_contains "drain: azds controller restart-router replaced $old" "$out" "Router restarted: pid $old -> "
# the line comes once every worker of the old router stopped accepting
for i in $(seq 1 500); do
	[ "$(grep -c 'SIGTERM: draining' "$RLOG")" -gt "$nd" ] && break
	sleep 0.02
done
expect_contains "drain: the held request is answered now" "$(probe client get "$VIP" /poke)" "poked=1"
wait "$HOLD"
hold=$(cat "$WORK/hold.out")
expect_contains "drain: the exchange in flight finished" "$hold" "path=/hold"
expect_contains "drain: ... with Connection: close" "$hold" "Connection: close"
touch "$WORK/go_ka"
wait "$KA"
ka=$(sed -n '/waiting for/,$p' "$WORK/ka.out")
expect_contains "drain: a request on the kept-alive connection is answered" "$ka" "path=/second"
expect_contains "drain: ... with Connection: close" "$ka" "Connection: close"
if kill -0 "$old" 2>/dev/null; then
	ok "drain: the websocket keeps the old router ($old)"
	t0=$(awk '{ print $14 + $15 }' "/proc/$old/stat")
	sleep 1
	t1=$(awk '{ print $14 + $15 }' "/proc/$old/stat" 2>/dev/null || echo "$t0")
	[ $((t1 - t0)) -lt 20 ] && ok "drain: the old router waits idle ($((t1 - t0)) ticks of CPU in 1 s)" ||
		bad "drain: the old router spins while draining ($((t1 - t0)) ticks of CPU in 1 s)"
else
	bad "drain: the old router ($old) left before the websocket closed"
fi
touch "$WORK/go_ws"
wait "$WS"
gone "$old" && ok "drain: the old router exits once the websocket is closed" ||
	bad "drain: the old router ($old) still runs"
wait_router ".state == \"running\" and .pid != $old and .restarts == $kills" &&
	ok "drain: the status shows the new router ($(rs pid)), no restart after an exit" || bad "drain: $(rshow)"

# (d) the controller dies (kill -9 of azds-controller run) under load:
# traffic goes on; the next one adopts the router, takes its listeners
# back from the shim, and restarts it on them after a kill -9
status
old=$(rs pid)
cpid=$(cat "/run/azds/$INST/controller.pid" 2>/dev/null)
expect_eq "the status names the controller's pid" "$(jq -r .pid "$WORK/status.json")" "${cpid:-?}"
run ctl_kill --at-ms 1000 --run "kill -9 ${cpid:-0}"
all_ok ctl_kill "controller kill -9"
gone "${cpid:-0}" && ok "controller kill -9: the controller ($cpid) is gone" || bad "controller kill -9: $cpid runs"
kill -0 "$old" 2>/dev/null && ok "controller kill -9: the router ($old) runs on" || bad "controller kill -9: router $old gone"
start_ctl
wait_router '.state == "running"'
expect_eq "a new controller adopts the running router" "$(rs pid)" "$old"
r0=$(rs restarts)
expect_eq "the adopted router keeps its restart count (the $kills kills)" "$r0" "$kills"
run adopted_kill --new-conn --at-ms 1000 --kill-pid-file "$RPID" --quiesce
all_ok adopted_kill "kill -9 under the new controller"
expect_eq "kill -9 under the new controller: the process killed was the router" "$(val adopted_kill killed_pid)" "$old"
wait_router ".state == \"running\" and .pid != $old and .restarts == $((r0 + 1)) and .last_signal == 9" &&
	ok "the new controller restarted the router ($old -> $(rs pid)) on the same listeners" ||
	bad "no restart under the new controller: $(rshow)"
echo "     router kill -9 until serving again (adopted): $(val adopted_kill serving_again_ms) ms"

expect_contains "after all that, still routed to the dev pod" "$(probe client get "$VIP" /after)" "pod=api-dev"
last=$(rs pid)
expect_contains "controller stop --all" "$($AZDS controller stop --all 2>&1)" "with its router"
gone "$last" && ok "the controller stopped the router ($last)" || bad "the router ($last) still runs after stop --all"
finish
