#!/bin/bash
# SPDX-License-Identifier: MIT
# azds trace (issue 9) end to end: real pods, the capture programs attached
# by the controller, the router's decisions, `azds trace -o json` as a user
# runs it. Asserts on which space served each hop and why, the two-hop
# request as one, redaction, query strings, hostile HTTP, the switches and
# the exact accounting of 100,000 requests.
INST=${AZDS_TEST_PREFIX:-}ittrace
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq is missing (scripts/install-deps.sh)"; exit 1; }
AZ="$BIN/azds -i $INST"
TRACE_PID=
cleanup() {
	[ -n "$TRACE_PID" ] && kill "$TRACE_PID" 2>/dev/null
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
PER_POD=16 # the router's per-pod connection limit here: the test fills it
DAEMON_ARGS="--router-arg --max-conns-per-pod --router-arg $PER_POD"
daemon_up
$AZ space select -n dev -y >/dev/null && $AZ space select -n dev/alice -y >/dev/null || bad "spaces"
for s in "web dev" "api dev" "api dev/alice" "data dev" "empty dev"; do
	set -- $s
	$AZ service add "$1" -n "$2" --port 80 --target-port 8080 >/dev/null || bad "service add $1 -n $2"
done
for p in "web dev web" "api-dev dev api" "api-alice dev/alice api" "data-dev dev data"; do
	set -- $p
	$AZ pod run "$1" -n "$2" --service "$3" -- "$BIN/podserver" --quiet --pod "$1" --space "$2" --service "$3" \
		>/dev/null || bad "pod run $1"
done
for p in web api-dev api-alice data-dev; do wait_ready web "$(pod_addr $p):8080" http || exit 1; done
status_trace() { "$BIN/azds" -i "$INST" controller status -o json 2>/dev/null | jq -r ".trace.$1 // empty"; }
for i in $(seq 1 100); do [ "$(status_trace state)" = capturing ] && break; sleep 0.1; done
expect_eq "capture attached by the controller" "$(status_trace state)" capturing

# trace_start NAME ARGS...: `azds trace` in the background, until it waits
trace_start() {
	local name=$1 i
	shift
	$AZ trace "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	TRACE_PID=$!
	for i in $(seq 1 100); do grep -q "waiting for requests" "$WORK/$name.err" 2>/dev/null && return 0; sleep 0.05; done
	echo "azds trace never started: $(cat "$WORK/$name.err")" >&2
	return 1
}
# trace_wait: until the reader exits by itself (-c N reached), bounded
trace_wait() {
	local i
	for i in $(seq 1 300); do kill -0 "$TRACE_PID" 2>/dev/null || { wait "$TRACE_PID"; return $?; }; sleep 0.1; done
	kill "$TRACE_PID" 2>/dev/null
	wait "$TRACE_PID"
	return 124
}
hop() { jq -r "$1" "$WORK/$2.out" 2>/dev/null; } # JQ-EXPR NAME

# --- routed requests name the right spaces and the fallback -----------------------
trace_start routed -o json -c 3 || exit 1
probe web get api:80 /one -H 'azds-route-as: alice' >/dev/null
probe web get web:80 /two -H 'azds-route-as: alice' >/dev/null
probe web get 'api:80' '/call?url=http://data/leaf' -H 'azds-route-as: alice' >"$WORK/call.txt"
trace_wait
expect_eq "three requests traced" "$(wc -l <"$WORK/routed.out")" 3
r=$(hop 'select(.hops[0].target == "/one") | .hops[0] | "\(.caller) -> \(.service)@\(.space) (\(.reason)) \(.method) \(.status) asked=\(.asked_space) pod=\(.pod) caller_space=\(.caller_space)"' routed)
expect_eq "own: web -> api@dev/alice" "$r" "web -> api@dev/alice (own) GET 200 asked=dev/alice pod=api-alice caller_space=dev"
r=$(hop 'select(.hops[0].target == "/two") | .hops[0] | "\(.service)@\(.space) (\(.reason))"' routed)
expect_eq "fallback: web has no copy in dev/alice" "$r" "web@dev (fell back to dev)"
r=$(hop 'select(.hops[0].target | startswith("/call")) | "\(.hops | length) \(.hops[1].parent == .hops[0].id) \(.hops[1].caller) -> \(.hops[1].service)@\(.hops[1].space) (\(.hops[1].reason)) \(.hops[1].target)"' routed)
expect_eq "a two-hop call is one request: web -> api -> data" "$r" "2 true api -> data@dev (fell back to dev) /leaf"
r=$(hop 'select(.hops[0].target | startswith("/call")) | .hops[0].duration_ms >= .hops[1].duration_ms' routed)
expect_eq "the outer hop lasts at least as long as the inner one" "$r" true
r=$(hop 'select(.hops[0].target | startswith("/call")) | .hops[0].target' routed)
expect_eq "query strings are cut by default" "$r" "/call"
expect_contains "the call itself went through" "$(cat "$WORK/call.txt")" "pod=data-dev"

# --- what a pod sent reaches the watcher's terminal escaped --------------------------
trace_start escapes -c 1 || exit 1
printf 'GET /t\033]0;PWN\007 HTTP/1.1\r\nHost: api\r\n\r\n' |
	in_pod web "$BIN/azds-probe" raw "$(vip api)" --timeout 10 >/dev/null 2>&1
trace_wait
expect_contains "a target with terminal controls is traced" "$(cat "$WORK/escapes.out")" '/t\x1b]0;PWN\x07'
expect_eq "... and no control byte reaches the terminal" "$(tr -d '\n' <"$WORK/escapes.out" | tr -d '[:print:]' | wc -c)" 0

# through the ingress by name: the route-as the name implies ties the hops (the router adds it
# to the head it forwards, and the hop shows that head, as the serving pod got it)
trace_start ing -o json -c 1 || exit 1
curl -s --noproxy '*' -m 10 -H 'Host: alice.s.dev.api.localhost' "http://127.0.0.1:$IPORT/call?url=http://data/ing" \
	>"$WORK/ing.txt"
trace_wait
r=$(hop '"\(.hops | length) \(.hops[0].caller) -> \(.hops[0].service)@\(.hops[0].space) (\(.hops[0].reason)) \(.hops[0].route_as); \(.hops[1].caller) -> \(.hops[1].service)@\(.hops[1].space) (\(.hops[1].reason))"' ing)
expect_eq "through the ingress by name: one request, the route-as of the name on its first hop" "$r" \
	"2 ingress -> api@dev/alice (own) alice; api -> data@dev (fell back to dev)"
expect_contains "the call through the ingress went through" "$(cat "$WORK/ing.txt")" "pod=data-dev"

# the table form, as a user reads it
trace_start line -c 1 || exit 1
probe web get api:80 /bikes -H 'azds-route-as: alice' >/dev/null
trace_wait
expect_contains "one line per hop" "$(cat "$WORK/line.out")" "dev/alice  web -> api@dev/alice (own)  GET /bikes  200"

# --- a W3C traceparent ties the hops exactly ------------------------------------------
trace_start tp -o json -c 1 || exit 1
probe web get api:80 '/call?url=http://data/tp' -H 'azds-route-as: alice' \
	-H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' >/dev/null
trace_wait
expect_eq "the traceparent's trace id" "$(hop '.trace_id' tp)" "4bf92f3577b34da6a3ce929d0e0e4736"
expect_eq "both hops in it" "$(hop '.hops | length' tp)" 2

# --- privacy: credentials redacted, queries only when asked ---------------------------
trace_start priv -o json -c 1 || exit 1
probe web get api:80 '/secret?token=QSECRET' -H 'Authorization: Bearer ASECRET123' -H 'Cookie: s=CSECRET456' \
	-H 'Proxy-Authorization: Basic PSECRET' -H 'azds-route-as: alice' >/dev/null
trace_wait
expect_not_contains "Authorization, Cookie, Proxy-Authorization never shown" "$(cat "$WORK/priv.out")" "SECRET"
expect_contains "their values say redacted" "$(cat "$WORK/priv.out")" "[redacted]"
trace_start privq -o json -c 1 --query || exit 1
probe web get api:80 '/secret?token=QSECRET' -H 'azds-route-as: alice' >/dev/null
trace_wait
expect_eq "--query keeps the query" "$(hop '.hops[0].target' privq)" "/secret?token=QSECRET"

# a header value that is not UTF-8 (obs-text) loses nothing of the hop
trace_start latin -o json -c 1 || exit 1
probe web get api:80 /latin -H "$(printf 'X-Latin: caf\351')" -H 'azds-route-as: alice' >/dev/null
trace_wait
expect_eq "a header of obs-text bytes: the hop is there, the bytes shown as ?" \
	"$(hop '"\(.hops[0].target) \(.hops[0].request_headers["X-Latin"] // "none")"' latin)" "/latin caf?"

# --- filters ----------------------------------------------------------------------------
trace_start flt -o json -c 1 --status 5xx || exit 1
probe web get api:80 /fine -H 'azds-route-as: alice' >/dev/null
probe web get nosuch-svc-for-trace:80 / >/dev/null 2>&1 # refused by DNS: nothing traced
probe web get empty:80 /none >/dev/null # declared, no pod: the router answers 503
trace_wait
expect_eq "--status 5xx keeps the 503 only, the router's own answer" "$(hop '.hops[0] | "\(.status) \(.reason) \(.service) \(.target)"' flt)" \
	"503 router empty /none"
# a caller past its per-pod limit is refused at accept: a hop too, the router's 503
trace_start limit -o json -c 1 --status 503 || exit 1
rm -f "$WORK/hold.go"
in_pod web "$BIN/azds-probe" hold "$(vip api)" $(for _ in $(seq 1 $PER_POD); do echo http; done) \
	--wait-file "$WORK/hold.go" >"$WORK/hold.out" 2>&1 &
HOLD=$!
wait_line "$WORK/hold.out" "^held $PER_POD" $HOLD
expect_contains "web holds its $PER_POD connections" "$(cat "$WORK/hold.out")" "held $PER_POD"
r=$(probe web get api:80 /over-limit --timeout 10)
expect_contains "web's next connection is refused with 503" "$r" "HTTP/1.1 503"
trace_wait
touch "$WORK/hold.go"
wait $HOLD
# the request's line is there when it came with the handshake, as it mostly does (not always)
r=$(hop '.hops[0] | "\(.status) \(.reason) \(.caller) -> \(.service) \(.target == "/over-limit" or .target == "")"' limit)
expect_eq "the refusal at accept is traced: the 503, the router, who asked for what" "$r" "503 router web -> api true"
r=$($AZ trace --status 99x 2>&1)
expect_contains "a bad --status is refused naming it" "$r" '--status "99x"'
r=$($AZ trace -s no/such/space -c 1 2>&1)
expect_contains "an unknown space is named" "$r" 'space "no/such/space" does not exist'

# --- hostile, partial and pipelined HTTP never confuse the capture ---------------------
api=$(pod_addr api-dev):8080
sleep 1 # the reader's counters are refreshed every 0.5 s
unparsed0=$(status_trace unparsed)
printf 'GARBAGE \x01\x02 NOT HTTP\r\n\r\n' | in_pod web "$BIN/azds-probe" raw "$api" --timeout 2 >/dev/null 2>&1
printf 'GET /partial-head HTTP/1.1\r\nHost: a\r\nX-Cut: ' | in_pod web "$BIN/azds-probe" raw "$api" --timeout 2 >/dev/null 2>&1
head -c 3000 /dev/zero | tr '\0' 'A' | in_pod web "$BIN/azds-probe" raw "$api" --timeout 2 >/dev/null 2>&1
trace_start pipe -o json -c 3 --status 200 || exit 1 # the cut head above is a request without answer (status 0)
probe web get "$api" /p1 --then /p2 --then /p3 --pipeline >/dev/null
trace_wait
r=$(jq -r '.hops[0] | "\(.target) \(.status) \(.reason) \(.pod)"' "$WORK/pipe.out" | paste -sd,)
expect_eq "pipelined requests pair with their responses in order (pod to pod: direct)" "$r" \
	"/p1 200 direct api-dev,/p2 200 direct api-dev,/p3 200 direct api-dev"
expect_eq "the controller is still up" "$(status_trace state)" capturing
# a held head is judged when its connection speaks again or closes: wait for it (bounded)
for i in $(seq 1 50); do [ "$(status_trace unparsed)" -gt "$unparsed0" ] && break; sleep 0.2; done
[ "$(status_trace unparsed)" -gt "$unparsed0" ] && ok "the garbage was seen, and counted as unparsed" ||
	bad "unparsed did not move ($unparsed0 -> $(status_trace unparsed))"

# --- switching capture off stops the records --------------------------------------------
# every space but dev/alice off: the programs stay attached, and a call between two pods of
# dev (web -> api-dev, straight) publishes nothing (the kernel's trace_off map at work)
for sp in $($AZ space list -o json | jq -r '.items[].name' 2>/dev/null); do
	[ "$sp" = dev/alice ] && continue
	$AZ trace off -s "$sp" >/dev/null || bad "switching capture off for $sp"
done
sleep 1 # the reader reads the kernel's counters every 0.5 s: let the last ones in
expect_eq "dev/alice still on: capture stays attached" "$(status_trace state)" capturing
before=$(status_trace records)
expect_contains "a call inside dev is answered" "$(probe web get "$api" /quiet)" "pod=api-dev"
sleep 1 # counters are read every 0.5 s: let a late one show (the check is on equality, not time)
expect_eq "no records from the pods of spaces switched off" "$(status_trace records)" "$before"
# through the router, both ends in dev (off), while someone watches: the router writes nothing of
# it (the off list in its file), and a call with one end on (dev/alice) is still told
trace_start offw -o json || exit 1
decs=$(status_trace decisions)
expect_contains "a routed call inside dev is answered" "$(probe web get api:80 /quiet-routed)" "pod=api-dev"
expect_contains "a routed call to dev/alice is answered" "$(probe web get api:80 /loud-routed -H 'azds-route-as: alice')" \
	"pod=api-alice"
for i in $(seq 1 50); do grep -q '/loud-routed' "$WORK/offw.out" && break; sleep 0.1; done
kill -INT "$TRACE_PID" 2>/dev/null
wait "$TRACE_PID"
TRACE_PID=
sleep 0.6 # the counters are refreshed every 0.5 s
expect_eq "the router recorded the call with an end on (2 records), none of the one inside dev" \
	"$(($(status_trace decisions) - decs)) $(grep -c quiet-routed "$WORK/offw.out")" "2 0"
expect_eq "the call with an end on: who served it and why" \
	"$(hop 'select(.hops[0].target == "/loud-routed") | .hops[0] | "\(.pod) \(.space) \(.reason) \(.status) \(.caller_pod)"' offw)" \
	"api-alice dev/alice own 200 web"
$AZ trace off -s dev/alice >/dev/null || bad "switching capture off for dev/alice"
for i in $(seq 1 100); do [ "$(status_trace state)" = off ] && break; sleep 0.1; done
expect_eq "every space off: the programs come off" "$(status_trace state)" off
$AZ trace on -s dev/alice >/dev/null || bad "switching dev/alice back on"
for i in $(seq 1 100); do [ "$(status_trace state)" = capturing ] && break; sleep 0.1; done
trace_start sw -o json -c 1 || exit 1
probe web get api:80 /back -H 'azds-route-as: alice' >/dev/null
trace_wait
r=$(hop '.hops[0] | "\(.target) \(.space) \(.caller_pod)"' sw)
expect_eq "dev/alice on again, dev still off: the hop is seen from alice's side, the router names the caller" "$r" \
	"/back dev/alice web"
for sp in $($AZ space list -o json | jq -r '.items[].name' 2>/dev/null); do
	$AZ trace on -s "$sp" >/dev/null || bad "switching capture on for $sp"
done
$AZ controller set trace off >/dev/null || bad "controller set trace off"
for i in $(seq 1 100); do [ "$(status_trace state)" = off ] && break; sleep 0.1; done
expect_eq "the node-wide switch" "$(status_trace state)" off
$AZ controller set trace on >/dev/null
for i in $(seq 1 100); do [ "$(status_trace state)" = capturing ] && break; sleep 0.1; done

# --- nobody watching: capture stays attached, and publishes nothing ----------------------
# (the reader stops wanting records 15 s after the last ask; they come back at the next ask,
# before its answer, so the watcher's first request is traced)
watched() { "$BIN/azds" -i "$INST" controller status -o json 2>/dev/null | jq -r '.trace.watched | tostring'; }
for i in $(seq 1 250); do [ "$(watched)" = false ] && break; sleep 0.1; done
expect_eq "nobody watching: the reader says so" "$(watched)" false
sleep 1 # the counters are read every 0.5 s
before=$(status_trace records)
expect_contains "a request nobody watches is answered" "$(probe web get api:80 /unwatched -H 'azds-route-as: alice')" \
	"pod=api-alice"
# and one pod to pod, which the kernel's capture would record if it published
expect_contains "a pod-to-pod request nobody watches is answered" "$(probe web get "$api" /unwatched-direct)" "pod=api-dev"
sleep 1
expect_eq "nobody watching: no records published, the programs still attached" \
	"$(status_trace records) $(status_trace state)" "$before capturing"
trace_start back -o json -c 1 || exit 1
probe web get api:80 /watched -H 'azds-route-as: alice' >/dev/null
trace_wait
expect_eq "watched again: the first request is traced" "$(hop '.hops[0] | "\(.target) \(.space)"' back)" \
	"/watched dev/alice"

# --- 100,000 requests: every record read, or exactly what was lost reported ------------
# (through the router: its two records a request, the request with its head
# and the response's; the kernel's capture leaves the sockets on both sides of
# the router alone. The reader's counters are refreshed every 0.5 s)
N=${TRACE_N:-100000}
sleep 1
drop0=$(status_trace dropped)
rec0=$(status_trace records)
read0=$(status_trace read)
hops0=$(status_trace hops)
dec0=$(status_trace decisions)
dmiss0=$(status_trace decisions_missed)
trace_start many -o json --service api || exit 1
probe web get api:80 /many -H 'azds-route-as: alice' --keepalive "$N" | grep -c '^HTTP/1.1 200' >"$WORK/many.count"
expect_eq "$N requests answered" "$(cat "$WORK/many.count")" "$N"
# until every request is a hop, or (records lost) the counters stop moving; bounded
last=
for i in $(seq 1 200); do
	sleep 0.3
	[ $(($(status_trace hops) - hops0)) -ge "$N" ] && break
	now="$(status_trace decisions) $(status_trace hops) $(status_trace decisions_missed)"
	[ "$(status_trace decisions_missed)" != "$dmiss0" ] && [ "$now" = "$last" ] && break
	last=$now
done
sleep 0.6 # the counters the checks read are refreshed every 0.5 s
kill -INT "$TRACE_PID" 2>/dev/null
wait "$TRACE_PID"
TRACE_PID=
dropped=$(($(status_trace dropped) - drop0))
records=$(($(status_trace records) - rec0))
read=$(($(status_trace read) - read0))
hops=$(($(status_trace hops) - hops0))
decs=$(($(status_trace decisions) - dec0))
dmissed=$(($(status_trace decisions_missed) - dmiss0))
shown=$(grep -c '"/many"' "$WORK/many.out")
behind=$(sed -n 's/.*shown; missed: \([0-9]*\) requests (reader behind).*/\1/p' "$WORK/many.err" | tail -1)
expect_eq "no kernel record lost: the reader read every record the kernel published" "$read $dropped" "$records 0"
expect_eq "the routed load made no kernel record (the router told it)" "$records" 0
if [ "$dmissed" -eq 0 ]; then
	[ $((shown + ${behind:-0})) -ge "$N" ] && ok "azds trace showed every request or said it went past" ||
		bad "azds trace: $shown shown + ${behind:-0} missed of $N"
	[ "$decs" -ge $((2 * N)) ] && ok "the router's two records per request, all read ($decs for $N)" ||
		bad "router records: $decs for $N requests"
	[ "$hops" -ge "$N" ] && ok "every request became a hop ($hops)" || bad "hops: $hops for $N requests"
else
	expect_contains "router records lost: azds trace says exactly how many" "$(cat "$WORK/many.err")" \
		"$dmissed routing decisions"
	[ $((hops + dmissed)) -ge "$N" ] && ok "every request a hop or counted among the lost ($hops + $dmissed)" ||
		bad "hops: $hops + $dmissed lost for $N requests"
fi
echo "     ($decs router records, $dmissed lost, $records kernel records, $hops hops; azds trace showed $shown, ${behind:-0} went past it)"
echo "     trace reader: $(status_trace records) records, $(status_trace decisions) router records, $(status_trace hops) hops, $(status_trace unparsed) unparsed, $(status_trace pauses) pauses, $(status_trace skipped) skipped"
finish
