#!/bin/bash
# SPDX-License-Identifier: MIT
# azds events -n N prints exactly N events, all of them from after it
# started: the ring buffer's backlog (events no reader consumed) is skipped.
INST=${AZDS_TEST_PREFIX:-}itevents
. "$(dirname "$0")/lib.sh"
setup_topology
API=$(vip api)
ECHO=$(vip echo)

# a known backlog: plain-TCP connections to echo (balanced + established
# events each), none read by anyone
for i in 1 2 3 4 5; do
	r=$(probe client-x tcp "$ECHO" --bytes 10 --timeout 5)
	expect_contains "backlog connection $i to echo" "$r" "ok bytes=10"
done

# events -n 3 after the backlog exists; traffic starts once it says it waits
"$BIN/azds" -i "$INST" events -n 3 >"$WORK/events.out" 2>"$WORK/events.err" &
ev=$!
for i in $(seq 1 200); do grep -qs "waiting for events" "$WORK/events.err" && break; sleep 0.05; done
# five HTTP requests through the router: ten events (steered + established),
# more than enough for three
for i in 1 2 3 4 5; do
	r=$(probe web get "$API" / --timeout 5)
	expect_contains "new request $i to api" "$r" "pod=api-dev"
done
# the command ends by itself after three events (bounded wait: a command that
# never ends fails below, after its output is judged)
for i in $(seq 1 200); do kill -0 "$ev" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$ev" 2>/dev/null; then
	bad "events -n 3 ended by itself after three events"
	kill "$ev"
else
	ok "events -n 3 ended by itself after three events"
fi
wait "$ev"
expect_eq "events -n 3 exited 0" "$?" 0
out=$(cat "$WORK/events.out")
expect_eq "events -n 3 printed exactly 3 lines" "$(wc -l <"$WORK/events.out")" 3
expect_eq "every event is one of the new requests to api ($API)" \
	"$(grep -c -- "-> $API space=dev$" "$WORK/events.out")" 3
expect_not_contains "no stale event from the backlog (echo, $ECHO)" "$out" "$ECHO"
expect_not_contains "no stale balanced event" "$out" "balanced"

# without -n it streams until stopped, also only what happens from then on
"$BIN/azds" -i "$INST" events >"$WORK/stream.out" 2>"$WORK/stream.err" &
ev=$!
for i in $(seq 1 200); do grep -qs "waiting for events" "$WORK/stream.err" && break; sleep 0.05; done
r=$(probe client-x tcp "$ECHO" --bytes 10 --timeout 5)
expect_contains "a new connection to echo" "$r" "ok bytes=10"
for i in $(seq 1 200); do [ "$(wc -l <"$WORK/stream.out")" -ge 2 ] && break; sleep 0.05; done
kill -INT "$ev"
wait "$ev"
expect_eq "events stops cleanly on SIGINT" "$?" 0
expect_eq "the stream has the new connection's two events and nothing older" \
	"$(awk '{ print $1 }' "$WORK/stream.out" | sort | tr '\n' ' ')" "balanced established "

# usage errors
"$BIN/azds" -i "$INST" events -n 0 >/dev/null 2>"$WORK/usage.err"
expect_eq "events -n 0 is a usage error" "$?" 2
"$BIN/azds" -i "$INST" events -n 3 extra >/dev/null 2>&1
expect_eq "events with an extra argument is a usage error" "$?" 2
finish
