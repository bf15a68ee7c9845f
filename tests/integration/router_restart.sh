#!/bin/bash
# SPDX-License-Identifier: MIT
# The router under constant load (1,000 req/s) through a kill -9 and
# through a restart: the controller owns the router's listeners and hands
# them to every router process (azds-router --listen-fds), so connections
# that arrive while a router restarts wait in the backlog, and a replaced
# router drains. Every request is counted (bench/azds-restart): ok,
# refused, reset, bad status, timeout. Until the daemon runs the router,
# tests/controller/routerd_harness does, with the same supervisor and
# router unit (controller/supervise.c, routerd.c).
#
#   kill -9 between exchanges, new connections: zero failures
#   kill -9 at any moment, new connections: zero refused (an exchange the
#     dead process held dies with it; counted and shown, not judged)
#   restart, keep-alive and new connections: zero failures
# The time from kill -9 until serving again is printed, never judged.
INST=${AZDS_TEST_PREFIX:-}itrrst
. "$(dirname "$0")/lib.sh"

EV=$WORK/events
FIFO=$WORK/ctl
HPIDF=/run/azds/$INST/harness.pid
UNIT=/run/azds/$INST/units/router
RATE=1000
DUR=3

harness_alive() { [ -n "${HPID:-}" ] && kill -0 "$HPID" 2>/dev/null; }

harness_stop() {
	local i
	harness_alive || return 0
	echo stop >"$FIFO"
	for i in $(seq 1 500); do
		harness_alive || break
		sleep 0.02
	done
	harness_alive && kill -9 "$HPID"
	wait "$HPID" 2>/dev/null
	HPID=
}

cleanup() {
	harness_stop
	$CTL stop >/dev/null 2>&1
	rm -rf "$WORK"
}

# a harness of a crashed earlier run (its pid file names it; only if it
# is ours) would restart the router under us
if p=$(cat "$HPIDF" 2>/dev/null) && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "routerd_harness -i $INST "; then
	kill -9 "$p"
fi

# wait_line PATTERN: until a line of the events file matches (bounded)
wait_line() {
	local i
	for i in $(seq 1 500); do
		grep -q -- "$1" "$EV" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}

router_pid() { awk '{ print $1 }' "$UNIT/current/pid" 2>/dev/null; }

$CTL stop >/dev/null 2>&1
$CTL start --no-router >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
$CTL space add dev && $CTL service add dev api --port 80 --target-port 8080 || exit 1
$INIT add --pod api-dev --space dev --service api >/dev/null || exit 1
$INIT add --pod client --space dev >/dev/null || exit 1
start_server api-dev dev api --listen 0.0.0.0:8080
wait_ready client "$(pod_addr api-dev):8080" http || exit 1
VIP=$($CTL service list | awk '$1 == "dev" && $2 == "api" { print $4 }')
# the client's TIME_WAIT ports are reused: thousands of new connections a run
in_pod client sysctl -qw net.ipv4.tcp_tw_reuse=1

# an idle kept-alive client gets 10 s to send its next request during a
# drain (the check below sends it once the drain has begun), tunnels 30 s
"$BIN/routerd_harness" -i "$INST" --bin "$BIN" --ctl "$FIFO" --events "$EV" \
	--router-arg --drain-idle-ms --router-arg 10000 --router-arg --drain-timeout-ms --router-arg 30000 \
	>>"$WORK/harness.log" 2>&1 &
HPID=$!
echo "$HPID" >"$HPIDF"
wait_line '^ready pid=' && ok "the harness started the router" || { bad "router not ready: $(cat "$EV")"; finish; exit 1; }
expect_contains "the router runs with the controller's listeners" "$(cat /run/azds/$INST/router.log)" "(inherited listeners)"
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

# (a) kill -9, between exchanges
old=$(router_pid)
n0=$(grep -c '^event router state=running' "$EV")
run kill --new-conn --at-ms 1000 --kill-pid-file "$UNIT/current/pid" --quiesce
all_ok kill "kill -9 between exchanges"
expect_eq "kill -9: the process killed was the router" "$(val kill killed_pid)" "$old"
wait_line "state=backoff pid=0 restarts=0 exit=-1 signal=9" && ok "kill -9: the supervisor saw SIGKILL" ||
	bad "kill -9: no exit by signal 9 in the events: $(cat "$EV")"
new=$(router_pid)
[ -n "$new" ] && [ "$new" != "$old" ] && [ "$(grep -c '^event router state=running' "$EV")" -gt "$n0" ] &&
	ok "kill -9: a new router ($new) replaced $old" || bad "kill -9: no new router ($old -> $new)"
echo "     router kill -9 until serving again: $(val kill serving_again_ms) ms, refused $(val kill refused)"

# (a') kill -9 wherever it lands: nothing is refused
old=$(router_pid)
run kill_any --new-conn --at-ms 1000 --kill-pid-file "$UNIT/current/pid"
summary kill_any
expect_eq "kill -9 at any moment: no connection refused" "$(val kill_any refused)" 0
expect_eq "kill -9 at any moment: no timeout" "$(val kill_any timeouts)" 0
echo "     exchanges the killed router held (lost with it): $(val kill_any reset)," \
	"serving again after $(val kill_any serving_again_ms) ms"
wait_line "^event router state=running pid=[0-9]* restarts=2 " && ok "kill -9 at any moment: restarted" ||
	bad "kill -9 at any moment: not restarted: $(tail -3 "$EV")"

# (b) restart-router: the new router gets the listeners, the old one drains
for mode in keepalive newconn; do
	old=$(router_pid)
	nr=$(grep -c '^restarted ' "$EV")
	args=()
	[ $mode = newconn ] && args=(--new-conn)
	run "restart_$mode" "${args[@]}" --at-ms 1000 --run "echo restart >$FIFO"
	all_ok "restart_$mode" "restart ($mode)"
	wait_line "^restarted old=$old new=[0-9]* rc=0" && ok "restart ($mode): $old replaced" ||
		bad "restart ($mode): $(grep '^restarted' "$EV" | tail -1)"
	[ "$(grep -c '^restarted ' "$EV")" -gt "$nr" ] || bad "restart ($mode): no restart happened"
	new=$(router_pid)
	[ -n "$new" ] && [ "$new" != "$old" ] && ! kill -0 "$old" 2>/dev/null &&
		ok "restart ($mode): the old router ($old) is gone, $new serves" || bad "restart ($mode): old $old, new $new"
done
expect_contains "the replaced routers drained" "$(cat /run/azds/$INST/router.log)" "SIGTERM: draining"

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
old=$(router_pid)
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
nd=$(grep -c 'SIGTERM: draining' /run/azds/$INST/router.log)
echo restart >"$FIFO"
wait_line "^restarted old=$old new=[0-9]* rc=0" || bad "drain: restart: $(grep '^restarted' "$EV" | tail -1)"
# the line comes once every worker of the old router stopped accepting
for i in $(seq 1 500); do
	[ "$(grep -c 'SIGTERM: draining' /run/azds/$INST/router.log)" -gt "$nd" ] && break
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
for i in $(seq 1 500); do
	kill -0 "$old" 2>/dev/null || break
	sleep 0.02
done
! kill -0 "$old" 2>/dev/null && ok "drain: the old router exits once the websocket is closed" ||
	bad "drain: the old router ($old) still runs"
# (d) the controller dies (kill -9 of the harness): traffic goes on; the
# next one adopts the router, takes its listeners back from the shim, and
# restarts it on them after a kill -9
old=$(router_pid)
run ctl_kill --at-ms 1000 --run "kill -9 $HPID"
all_ok ctl_kill "controller kill -9"
wait "$HPID" 2>/dev/null
kill -0 "$old" 2>/dev/null && ok "controller kill -9: the router ($old) runs on" || bad "controller kill -9: router $old gone"
nready=$(grep -c '^ready pid=' "$EV")
"$BIN/routerd_harness" -i "$INST" --bin "$BIN" --ctl "$FIFO" --events "$EV" >>"$WORK/harness.log" 2>&1 &
HPID=$!
echo "$HPID" >"$HPIDF"
for i in $(seq 1 500); do
	[ "$(grep -c '^ready pid=' "$EV")" -gt "$nready" ] && break
	sleep 0.02
done
expect_eq "a new controller adopts the running router" "$(grep '^ready pid=' "$EV" | tail -1 | sed 's/ready pid=\([0-9]*\).*/\1/')" "$old"
run adopted_kill --new-conn --at-ms 1000 --kill-pid-file "$UNIT/current/pid" --quiesce
all_ok adopted_kill "kill -9 under the new controller"
new=$(router_pid)
[ -n "$new" ] && [ "$new" != "$old" ] && ok "the new controller restarted the router ($old -> $new) on the same listeners" ||
	bad "no restart under the new controller ($old -> $new)"

expect_not_contains "no restart was a crash" "$(grep '^event' "$EV" | grep -v 'signal=9' | grep 'state=backoff')" "state="

expect_contains "after all that, still routed to the dev pod" "$(probe client get "$VIP" /after)" "pod=api-dev"
harness_stop
expect_contains "the harness stopped the router" "$(tail -3 "$EV")" "stopped rc=0"
finish
