#!/bin/bash
# SPDX-License-Identifier: MIT
# The router's exchanges with backends (issue 6): no response desync, a
# shared and bounded upstream pool, replays only when safe, route-as
# conflicts refused, per-pod fairness, protocol edges and the access log.
# Every check asserts on content: which pod and which backend connection
# answered (podserver's X-Conn and /conn), exact bytes, status lines.
# With SOCKMAP=off the same checks run through the TCP stack only.
INST=${AZDS_TEST_PREFIX:-}itexch
[ "${SOCKMAP:-on}" = off ] && INST=${AZDS_TEST_PREFIX:-}itexsock
[ "${SOCKMAP:-on}" = nopods ] && INST=${AZDS_TEST_PREFIX:-}itexpods
. "$(dirname "$0")/lib.sh"

# --- the router settings these checks use: one place to align their names -----
OPT_MAX_IDLE_PER_BACKEND=--max-idle-per-backend # idle pooled upstreams per backend
OPT_MAX_IDLE_UPSTREAMS=--max-idle-upstreams     # idle pooled upstreams in total
OPT_POOL_IDLE_TIMEOUT=--pool-idle-timeout-ms    # a pooled upstream closes after this idle time
OPT_WORKERS=--workers                           # event loops; each has its own pool
OPT_MAX_CONNS_PER_POD=--max-conns-per-pod       # client connections one caller pod may hold
OPT_MAX_CONNS=--max-conns
PER_POD_DEFAULT_FRACTION=4                      # default per-pod limit: max-conns / this
OPT_TUNNEL_IDLE_TIMEOUT=--tunnel-idle-timeout-ms
OPT_CONNECT_TIMEOUT=--connect-timeout-ms        # upstream connect; then 504
CONNECT_TIMEOUT_DEFAULT=5000
OPT_MAX_BODY=--max-body-bytes
OPT_ACCESS_LOG=--access-log                     # takes a FILE
OPT_ACCESS_LOG_MAX=--access-log-bytes           # size bound of the file before it rotates
OPT_ACCESS_LOG_QUERY=--access-log-query         # a switch: log query strings too
# rotated access logs are FILE followed by a suffix (FILE.1, FILE.old, ...)

RUN=/run/azds/$INST
ROUTER_ERR=

setup_topology
if [ "${SOCKMAP:-on}" = off ]; then
	$CTL set sockmap off
	expect_contains "sockmap switch off" "$($CTL status)" "sockmap=off"
fi
if [ "${SOCKMAP:-on}" = nopods ]; then
	$CTL set sockmap-pods off
	expect_contains "sockmap-pods switched off" "$($CTL status)" "sockmap-pods=off"
fi

# backends of their own, so that their connection counters mean one thing:
# ex (desync), pool (sharing and bounds), rp (replays: closes every reused
# connection), gone and gone2 (removal), slow (connects never finish)
add_backend() { # POD SERVICE [podserver args...]
	local pod=$1 svc=$2
	shift 2
	$CTL service add dev "$svc" --port 80 --target-port 8080 >/dev/null || exit 1
	$INIT add --pod "$pod" --space dev --service "$svc" >/dev/null || exit 1
	start_server "$pod" dev "$svc" --listen 0.0.0.0:8080 "$@"
	[ "${1:-}" = --no-accept ] || wait_ready client-x "$(pod_addr "$pod"):8080" http || exit 1
}
add_backend ex-1 ex
add_backend pool-1 pool
add_backend rp-1 rp --drop-after 1
add_backend gone-1 gone
add_backend g2-1 gone2
add_backend slow-1 slow --no-accept

# --- helpers ------------------------------------------------------------------

# direct POD PATH: straight to the pod (not through the router), from client-x
direct() { probe client-x get "$(pod_addr "$1"):8080" "$2"; }
# poke POD: the pod's pending strays, closes and held requests happen now
poke() { direct "$1" /poke >/dev/null; }
# seen POD PATH: "seen=<requests received> answered=<responses sent>"
seen() { direct "$1" "/seen?path=$2" | grep -o 'seen=.*'; }
# stat POD NAME: a field of the pod's /conn line (open, pending, accepted)
stat_of() { direct "$1" /conn | grep -o "$2=[0-9]*" | cut -d= -f2; }
# until_eq POD NAME VALUE: wait (bounded) until the pod's /conn field has VALUE
until_eq() {
	local i v
	for i in $(seq 1 200); do
		v=$(stat_of "$1" "$2")
		[ "$v" = "$3" ] && break
		sleep 0.05
	done
	echo "$v"
}
# the values of NAME=<n> (body) or "NAME: <n>" (header) in order, space separated
fields() { printf '%s\n' "$2" | grep -o "$1=[0-9]*" | cut -d= -f2 | tr '\n' ' '; }
xconn() { printf '%s\n' "$1" | tr -d '\r' | sed -n 's/^X-Conn: //p' | tr '\n' ' '; }
# raw POD ADDR PRINTF-FORMAT: those bytes on one connection, everything back
raw() { printf "$3" | in_pod "$1" "$BIN/azds-probe" raw "$2" --timeout 10 2>&1; }

# stepped POD ACTION GET-ARGS...: a get whose --then request waits until
# ACTION (a shell command run here) is done: the first exchange completes,
# ACTION runs, then the next request goes on the same client connection
stepped() {
	local pod=$1 action=$2 out=$WORK/stepped.out go=$WORK/stepped.go pid
	shift 2
	rm -f "$out" "$go"
	in_pod "$pod" "$BIN/azds-probe" get "$@" --wait-file "$go" >"$out" 2>&1 &
	pid=$!
	wait_line "$out" "^waiting for" $pid
	eval "$action"
	touch "$go"
	wait $pid
	cat "$out"
}

# router_with [SETTING VALUE | SWITCH]...: restart the router with exactly
# these settings (none: the defaults); false, with ROUTER_ERR, if it refused
router_with() {
	local a args=()
	stop_router
	rm -f "$RUN/router.args"
	for a in "$@"; do args+=(--router-arg "$a"); done
	if ! $CTL start "${args[@]}" >"$WORK/router-start.log" 2>&1; then
		ROUTER_ERR="$*: $(tail -n 3 "$RUN/router.log" 2>/dev/null | tr '\n' ' ')"
		stop_router
		rm -f "$RUN/router.args" # start kept the refused settings
		$CTL start >/dev/null 2>&1
		return 1
	fi
}
# node_conns ADDR: the router's established connections to ADDR
node_conns() { ip netns exec "azds-$INST-node" ss -Htn state established dst "$1" | wc -l; }
# help_default SETTING: its default in azds-router --help
help_default() { "$BIN/azds-router" --help 2>&1 | sed -n "s/^ *$1 .*(\([0-9]*\), [0-9]*\.\.[0-9]*)\$/\1/p"; }

# === 1. desync: bytes past a response's end never answer a later request ========
t_desync() {
	local EX r c
	EX=$(vip ex)
	# stray whole response in the same write, client pipelines the next request
	for shape in "GET /extra?stray=same" "HEAD /extra?stray=same" "GET /extra?status=204&stray=same" \
		"GET /extra?status=304&stray=same" "GET /extra?stray=late&ms=30"; do
		r=$(raw web "$EX" "${shape% *} ${shape#* } HTTP/1.1\r\nHost: ex\r\n\r\nGET /conn HTTP/1.1\r\nHost: ex\r\nConnection: close\r\n\r\n")
		expect_not_contains "desync [$shape]: the stray bytes reach no client" "$r" "STRAY"
		expect_contains "desync [$shape]: the pipelined request gets its own answer" "$r" "path=/conn"
		c=($(xconn "$r"))
		if [ "${#c[@]}" -eq 2 ] && [ "${c[0]}" != "${c[1]}" ]; then
			ok "desync [$shape]: that connection is not reused (X-Conn ${c[*]})"
		else
			bad "desync [$shape]: the next request must go on another backend connection, got X-Conn [${c[*]}]"
		fi
	done
	# the late stray is written before the next check takes a pooled connection
	# (one taken before it comes cannot be told from a good one, by any proxy)
	expect_eq "desync: the late stray has been written" "$(until_eq ex-1 pending 0)" 0
	# the same, the next request sent once the response is read
	for shape in "GET /extra?stray=same" "HEAD /extra?stray=same" "GET /extra?status=204&stray=same" \
		"GET /extra?status=304&stray=same"; do
		r=$(probe web get ex:80 "${shape#* }" -X "${shape% *}" -i --then /conn)
		expect_not_contains "desync [$shape], keep-alive: the stray bytes reach no client" "$r" "STRAY"
		expect_contains "desync [$shape], keep-alive: the next request gets its own answer" "$r" "path=/conn"
		c=($(xconn "$r"))
		[ "${#c[@]}" -eq 2 ] && [ "${c[0]}" != "${c[1]}" ] &&
			ok "desync [$shape], keep-alive: that connection is not reused" ||
			bad "desync [$shape], keep-alive: next request on the dirty connection (X-Conn [${c[*]}])"
	done
	# the stray bytes come later, while the upstream is idle: the same client's
	# next request on its connection, then another client in another space
	for shape in "GET /extra?stray=poke" "HEAD /extra?stray=poke" "GET /extra?status=204&stray=poke" \
		"GET /extra?status=304&stray=poke"; do
		r=$(stepped web "poke ex-1" ex:80 "${shape#* }" -X "${shape% *}" -i --then /conn)
		expect_not_contains "late stray [$shape]: the client's next request does not get it" "$r" "STRAY"
		expect_contains "late stray [$shape]: the next request is answered" "$r" "path=/conn"
		c=($(xconn "$r"))
		[ "${#c[@]}" -eq 2 ] && [ "${c[0]}" != "${c[1]}" ] &&
			ok "late stray [$shape]: that connection is not reused" ||
			bad "late stray [$shape]: next request on the dirty connection (X-Conn [${c[*]}])"
	done
	r=$(probe web get ex:80 '/extra?stray=poke' -i)
	c=$(xconn "$r")
	poke ex-1
	r=$(probe client-x get ex:80 /conn -i -H 'azds-route-as: dev')
	expect_not_contains "late stray: another space's client does not get it" "$r" "STRAY"
	expect_contains "late stray: another space's client gets a genuine answer" "$r" "path=/conn route-as=dev"
	expect_not_contains "late stray: ... on another backend connection" "X-Conn: $(xconn "$r")" "X-Conn: $c"
	probe web get ex:80 '/extra?stray=same' -X HEAD >/dev/null
	probe client-x get ex:80 /conn -H 'azds-route-as: dev' >"$WORK/d.out"
	expect_contains "HEAD with a body: the next client is answered" "$(cat "$WORK/d.out")" "path=/conn"
}

# === 2. a shared, bounded, checked upstream pool =====================================
t_pool() {
	local r a b ids n w G1 G2
	# 100 new client connections, one request each, one after another: a
	# pool per worker at most (the default is a worker per CPU)
	w=$(nproc)
	[ "$w" -lt 2 ] && w=2
	r=$(in_pod web sh -c "for i in \$(seq 1 100); do $BIN/azds-probe get pool:80 /conn; done" 2>&1)
	expect_eq "pool: 100 client connections all answered" "$(printf '%s\n' "$r" | grep -c 'path=/conn')" 100
	n=$(printf '%s\n' "$r" | grep -o 'conn=[0-9]*' | sort -u | wc -l)
	[ "$n" -le "$w" ] && ok "pool: 100 new client connections used $n backend connection(s)" ||
		bad "pool: 100 new client connections used $n backend connections (at most $w expected)"

	# one worker, one pool: what one client leaves, the next one takes
	router_with "$OPT_WORKERS" 1 || bad "pool: router refused one worker ($ROUTER_ERR)"
	# client A, then client B (another pod, another space) on a new connection
	r=$(probe web get pool:80 /conn)
	a=$(fields conn "$r")
	r=$(probe client-x get pool:80 /conn -H 'azds-route-as: dev')
	b=$(fields conn "$r")
	expect_eq "pool: another client's new connection reuses the backend connection" "$b" "$a"
	r=$(in_pod web sh -c "for i in \$(seq 1 20); do $BIN/azds-probe get pool:80 /conn; done" 2>&1)
	expect_eq "pool: one worker: 20 new client connections, one backend connection" \
		"$(printf '%s\n' "$r" | grep -o 'conn=[0-9]*' | sort -u | tr '\n' ' ')" "conn=$a"

	# a pooled upstream that the backend closes is discarded, not used
	r=$(probe web get pool:80 /closeonpoke -i)
	a=$(xconn "$r")
	poke pool-1
	r=$(probe client-x get pool:80 /conn -i -H 'azds-route-as: dev')
	expect_contains "pool: backend closed the idle upstream: the next client is answered" "$r" "HTTP/1.1 200"
	expect_not_contains "pool: ... not on the closed connection" "X-Conn: $(xconn "$r")" "X-Conn: $a"
	r=$(stepped web "poke pool-1" pool:80 /closeonpoke -i --then /conn)
	expect_contains "pool: same client after the backend closed its idle upstream: answered" "$r" "path=/conn"
	expect_not_contains "pool: ... with no error" "$r" "HTTP/1.1 50"

	# upstreams to a removed pod are dropped at once and never used again
	G1=$(pod_addr gone-1)
	r=$(stepped web "$INIT add --pod gone-2 --space dev --service gone >/dev/null &&
		start_server gone-2 dev gone --listen 0.0.0.0:8080 &&
		wait_ready client-x \$(pod_addr gone-2):8080 http && $INIT del --pod gone-1" gone:80 /conn --then /conn)
	expect_eq "removed pod: the next request on the same client connection goes to the new pod" \
		"$(printf '%s\n' "$r" | grep -o 'pod=gone-[0-9]' | tr '\n' ' ')" "pod=gone-1 pod=gone-2 "
	r=$(probe client-x get gone:80 /conn -H 'azds-route-as: dev')
	expect_contains "removed pod: a new client goes to the new pod" "$r" "pod=gone-2"
	for i in $(seq 1 100); do [ "$(node_conns "$G1")" = 0 ] && break; sleep 0.05; done
	expect_eq "removed pod: no router connection to it is kept" "$(node_conns "$G1")" 0
	# and to a removed service
	G2=$(pod_addr g2-1)
	r=$(probe web get gone2:80 /conn)
	expect_contains "service about to go: answered" "$r" "pod=g2-1"
	$CTL service rm dev gone2 >/dev/null
	for i in $(seq 1 100); do [ "$(node_conns "$G2")" = 0 ] && break; sleep 0.05; done
	expect_eq "removed service: no router connection to its pod is kept" "$(node_conns "$G2")" 0
	router_with
}

# idle timeout and bounds need settings: a router of their own
t_pool_settings() {
	local r a b pids i p open1 open2
	if ! router_with "$OPT_WORKERS" 1 "$OPT_POOL_IDLE_TIMEOUT" 5000; then
		bad "pool idle timeout: router refused the setting ($ROUTER_ERR)"
	else
		r=$(probe web get pool:80 /conn)
		a=$(fields conn "$r")
		r=$(probe client-x get pool:80 /conn -H 'azds-route-as: dev')
		expect_eq "pool (idle timeout 5 s): reused by the next client" "$(fields conn "$r")" "$a"
		expect_eq "pool: the idle upstream is closed after its idle timeout" "$(until_eq pool-1 open 0)" 0
		r=$(probe web get pool:80 /conn)
		b=$(fields conn "$r")
		[ -n "$b" ] && [ "$b" != "$a" ] && ok "pool: after the idle timeout a new backend connection" ||
			bad "pool: after the idle timeout expected a new backend connection, got [$b] (was [$a])"
	fi

	# 5 requests at once to each of two backends; at most 2 idle per backend, 3 in all
	if ! router_with "$OPT_WORKERS" 1 "$OPT_MAX_IDLE_PER_BACKEND" 2 "$OPT_MAX_IDLE_UPSTREAMS" 3; then
		bad "pool bounds: router refused the settings ($ROUTER_ERR)"
		router_with
		return
	fi
	for svc in pool ex; do
		pids=()
		for i in 1 2 3 4 5; do
			probe web get $svc:80 /hold --timeout 60 >"$WORK/hold.$svc.$i" &
			pids+=($!)
		done
		expect_eq "pool bounds: 5 requests held at once by $svc" "$(until_eq $svc-1 pending 5)" 5
		poke $svc-1
		for p in "${pids[@]}"; do wait "$p"; done
		expect_eq "pool bounds: all 5 answered by $svc" "$(cat "$WORK"/hold.$svc.* | grep -c 'path=/hold')" 5
		[ $svc = pool ] && expect_eq "pool bounds: 2 idle upstreams kept for one backend" "$(until_eq pool-1 open 2)" 2
	done
	# the extra upstreams close as they come back: wait until the count settles at 3
	for i in $(seq 1 200); do
		open1=$(stat_of pool-1 open)
		open2=$(stat_of ex-1 open)
		[ "$((open1 + open2))" -le 3 ] && break
		sleep 0.05
	done
	[ "$open1" -le 2 ] && [ "$open2" -le 2 ] && ok "pool bounds: at most 2 per backend ($open1, $open2)" ||
		bad "pool bounds: more than 2 idle upstreams for one backend ($open1, $open2)"
	expect_eq "pool bounds: 3 idle upstreams in all" "$((open1 + open2))" 3
	router_with
}

# === 3. replays: only bodyless idempotent requests, only if nothing came back =====
t_replay() {
	local r m
	# rp-1 closes, unanswered, every request after the first on a connection:
	# the first request leaves a used connection in the pool, the second reuses it
	for m in GET HEAD PUT DELETE OPTIONS; do
		r=$(probe web get rp:80 /r-warm --then "$m /r-$m")
		expect_eq "replay: bodyless $m resent once and answered" "$(printf '%s\n' "$r" | grep -c '^HTTP/1.1 200')" 2
		expect_eq "replay: rp-1 saw $m twice (closed once, answered once)" "$(seen rp-1 /r-$m)" "seen=2 answered=1"
	done
	for m in POST PATCH; do
		r=$(probe web get rp:80 /r-warm --then "$m /r-$m")
		expect_contains "no replay: bodyless $m on a reused connection closed under it -> 502" "$r" "HTTP/1.1 502"
		expect_eq "no replay: rp-1 saw $m once" "$(seen rp-1 /r-$m)" "seen=1 answered=0"
	done
	r=$(probe web get rp:80 /r-warm --then 'PUT /r-body' --then-body hello)
	expect_contains "no replay: a request with a body -> 502" "$r" "HTTP/1.1 502"
	expect_eq "no replay: rp-1 saw the request with a body once" "$(seen rp-1 /r-body)" "seen=1 answered=0"
	# part of a response head came back, then the backend closed: never resent
	r=$(probe web get ex:80 /r-warm --then /partial --timeout 10)
	case "$r" in
	*"HTTP/1.1 502"* | *"error:"*) ok "partial head then close: 502 or a cut connection" ;;
	*) bad "partial head then close: expected 502 or a cut connection, got [$r]" ;;
	esac
	expect_eq "partial head then close: the GET was never resent" "$(seen ex-1 /partial)" "seen=1 answered=0"
}

# === 4. route-as conflicts ==================================================================
# refused_naming NAME RESPONSE A B: a 400 from the router whose body names A and B
refused_naming() {
	case "$2" in
	"HTTP/1.1 400"*)
		ok "$1 -> 400"
		expect_contains "$1: names $3" "$2" "$3"
		expect_contains "$1: names $4" "$2" "$4"
		expect_not_contains "$1: never routed" "$2" "pod=" ;;
	*) bad "$1: expected a 400 naming $3 and $4, got [$2]" ;;
	esac
}

t_routeas() {
	local r
	r=$(probe web get api:80 / -H 'azds-route-as: alice' -H 'baggage: azds-route-as=dev')
	refused_naming "header alice, baggage dev" "$r" alice dev
	r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice, userId=7, azds-route-as=dev')
	refused_naming "two azds-route-as in one baggage" "$r" alice dev
	r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice' -H 'baggage: userId=7, azds-route-as=dev')
	refused_naming "azds-route-as on two baggage lines" "$r" alice dev
	r=$(probe web get api:80 / -H 'azds-route-as: alice' -H 'baggage: azds-route-as=alice')
	expect_contains "header and baggage agree: routed" "$r" "pod=api-alice"
	r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice, azds-route-as=alice')
	expect_contains "the same member twice: routed" "$r" "pod=api-alice"
	r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice' -H 'baggage: k=v, azds-route-as=alice')
	expect_contains "the same member on two lines: routed" "$r" "pod=api-alice"
}

# === 5. fairness: a per-pod connection limit that tunnels and upgrades count against
# fill_allowance LABEL N SPEC...: web holds exactly its allowance of N client
# connections (hold SPECs), its next one is refused, another pod is served
fill_allowance() {
	local label=$1 n=$2 hold=$WORK/hold.out go=$WORK/hold.go pid r i
	shift 2
	rm -f "$go"
	in_pod web "$BIN/azds-probe" hold "$(vip api)" "$@" --wait-file "$go" >"$hold" 2>&1 &
	pid=$!
	wait_line "$hold" "^held $n" $pid
	expect_contains "$label: web holds its $n connections ($*)" "$(cat "$hold")" "held $n"
	r=$(probe web get api:80 /one-too-many --timeout 10)
	expect_not_contains "$label: web's next connection is not served" "$r" "pod=api"
	case "$r" in
	HTTP/*) expect_contains "$label: ... refused with 503" "$r" "HTTP/1.1 503"
		expect_contains "$label: ... naming the limit" "$r" "${OPT_MAX_CONNS_PER_POD#--}" ;;
	*) ok "$label: ... closed" ;;
	esac
	r=$(probe client-x get api:80 / -H 'azds-route-as: dev' --timeout 10)
	expect_contains "$label: another pod is served meanwhile" "$r" "pod=api-dev"
	r=$(probe client-x ws api:80 /ws hi --timeout 10)
	expect_contains "$label: another pod opens a websocket meanwhile" "$r" "hello from api-alice"
	touch "$go"
	wait $pid
	for i in $(seq 1 100); do
		r=$(probe web get api:80 / --timeout 5)
		case "$r" in *pod=api*) break ;; esac
		sleep 0.05
	done
	expect_contains "$label: web served again once it let go" "$r" "pod=api-dev"
}

t_fair() {
	local t r
	t=$(help_default "$OPT_TUNNEL_IDLE_TIMEOUT")
	[ -n "$t" ] && [ "$t" -lt 3600000 ] && ok "fairness: tunnel idle timeout defaults below an hour ($t ms)" ||
		bad "fairness: tunnel idle timeout default [$t] is not below an hour"
	if router_with "$OPT_MAX_CONNS_PER_POD" 6 "$OPT_TUNNEL_IDLE_TIMEOUT" 1000; then
		fill_allowance "fairness (limit 6)" 6 tunnel tunnel ws ws http http
		# an idle tunnel is closed after the (configured) tunnel idle timeout
		r=$(printf '\026\003\001\000\005idle' |
			in_pod web "$BIN/azds-probe" raw "$(vip api)" --no-shutdown --timeout 30 2>&1)
		expect_not_contains "fairness: an idle tunnel is closed by the router (1 s timeout)" "$r" "timed out"
	else
		bad "fairness: router refused the settings ($ROUTER_ERR)"
	fi
	# no per-pod setting: a fraction of the connection limit
	if router_with "$OPT_MAX_CONNS" 40; then
		fill_allowance "fairness (default of --max-conns 40)" $((40 / PER_POD_DEFAULT_FRACTION)) \
			tunnel tunnel tunnel tunnel ws ws ws http http http
	else
		bad "fairness: router refused the settings ($ROUTER_ERR)"
	fi
	router_with
}

# === 6. protocol edges ==========================================================================
t_edges() {
	local r S API exp
	API=$(vip api)
	# (a) connect timeout: slow-1 never accepts and one queued connection fills
	# its accept queue, so the kernel drops the router's SYNs
	S=$(pod_addr slow-1)
	probe client-x raw "$S:8080" --no-shutdown --timeout 1 </dev/null >/dev/null
	r=$(probe client-x raw "$S:8080" --timeout 2 </dev/null)
	expect_contains "slow-1 does not complete connects" "$r" "timed out"
	expect_eq "connect timeout default" "$(help_default "$OPT_CONNECT_TIMEOUT")" "$CONNECT_TIMEOUT_DEFAULT"
	if router_with "$OPT_CONNECT_TIMEOUT" 1000; then
		r=$(probe web get slow:80 / --timeout 20)
		expect_contains "connect timeout -> 504" "$r" "HTTP/1.1 504"
		expect_contains "the 504 names the backend" "$r" "$S:8080"
	else
		bad "connect timeout: router refused the setting ($ROUTER_ERR)"
	fi

	# (b) chunked request bodies obey the body limit
	if router_with "$OPT_MAX_BODY" 1000; then
		c600=$(head -c 600 /dev/zero | tr '\0' 'c')
		r=$(raw web "$API" "POST /echo-chunked HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n$c600\r\n258\r\n$c600\r\n258\r\n$c600\r\n0\r\n\r\n")
		expect_contains "chunked body over the limit -> 413" "$r" "HTTP/1.1 413"
		expect_not_contains "... not answered by a backend" "$r" "X-Pod:"
		expect_eq "... the backend never got the whole body" "$(seen api-dev /echo-chunked | cut -d' ' -f2)" "answered=0"
		r=$(raw web "$API" "POST /echo-small HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n12c\r\n${c600:0:300}\r\n12c\r\n${c600:0:300}\r\n0\r\n\r\n")
		expect_contains "chunked body under the limit: echoed whole" "$r" "path=/echo-small route-as=- body-bytes=600"
		r=$(raw web "$API" "POST /echo-cl HTTP/1.1\r\nHost: api\r\nContent-Length: 1800\r\n\r\n$c600$c600$c600")
		expect_contains "Content-Length body over the limit -> 413" "$r" "HTTP/1.1 413"
		expect_contains "... naming the limit" "$r" "Content-Length exceeds 1000 bytes (--max-body-bytes)"
	else
		bad "chunked body limit: router refused the setting ($ROUTER_ERR)"
	fi
	router_with

	# (c) HTTP/1.0 clients get neither 1xx responses nor chunked framing
	r=$(raw web "$API" 'GET /interim HTTP/1.0\r\nHost: api\r\n\r\n')
	expect_contains "HTTP/1.0: final response relayed" "$r" "path=/interim"
	expect_not_contains "HTTP/1.0: no 100 Continue" "$r" " 100 "
	expect_not_contains "HTTP/1.0: no 103 Early Hints" "$r" " 103 "
	r=$(raw web "$API" 'POST /interim HTTP/1.0\r\nHost: api\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello')
	expect_contains "HTTP/1.0 with Expect: final response relayed" "$r" "body-bytes=5"
	expect_not_contains "HTTP/1.0 with Expect: no 100 Continue" "$r" " 100 "
	printf 'GET /stream?chunked=always HTTP/1.0\r\nHost: api\r\n\r\n' |
		in_pod web "$BIN/azds-probe" raw "$API" --timeout 10 >"$WORK/raw10" 2>&1
	r=$(cat "$WORK/raw10")
	expect_contains "HTTP/1.0 and a chunked response: 200" "$r" "HTTP/1.1 200"
	expect_not_contains "HTTP/1.0: no chunked framing" "$(printf '%s' "$r" | tr 'A-Z' 'a-z')" "transfer-encoding: chunked"
	exp=$(printf 'pod=api-dev space=dev service=api method=GET path=/stream?chunked=always route-as=- body-bytes=0\nchunk 2 of 3\nchunk 3 of 3\n.')
	tr -d '\r' <"$WORK/raw10" | sed '1,/^$/d' >"$WORK/body10"
	expect_eq "HTTP/1.0: the body's exact bytes, unchunked" "$(cat "$WORK/body10"; echo .)" "$exp"

	# (d) a 101 counts only with Upgrade and Connection: upgrade
	for have in none upgrade connection; do
		r=$(raw web "$API" "GET /bad101?have=$have HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		expect_contains "101 with only [$have] -> 502" "$r" "HTTP/1.1 502"
		expect_not_contains "101 with only [$have]: no tunnel" "$r" "TUNNEL bytes"
	done

	# (e) an exchange silent past --idle-timeout-ms: a response under way is
	# cut with a reset (a close-delimited body must not look whole), a
	# stalled request body gets 408. /stall sends a head and a first part,
	# then nothing while the connection lives; no check waits on a clock:
	# each client reads until the router ends its connection
	if router_with --idle-timeout-ms 500; then
		printf 'GET /stall HTTP/1.1\r\nHost: api\r\n\r\n' |
			in_pod web "$BIN/azds-probe" raw "$API" --no-shutdown --timeout 60 >"$WORK/stall" 2>&1
		r=$(cat "$WORK/stall")
		expect_contains "a backend silent mid-response: the part it sent arrives" "$r" "first-part"
		expect_contains "... then the client's connection is reset, not closed as if whole" "$r" "Connection reset by peer"
		printf 'POST /echo HTTP/1.1\r\nHost: api\r\nContent-Length: 100\r\n\r\n0123456789' |
			in_pod web "$BIN/azds-probe" raw "$API" --no-shutdown --timeout 60 >"$WORK/stall" 2>&1
		r=$(cat "$WORK/stall")
		expect_contains "a client whose body stalls: 408" "$r" "HTTP/1.1 408"
		expect_contains "... saying why" "$r" "request body stalled"
		# a backend that stops reading the body (/noread takes the head,
		# then nothing): 64 MiB fills every buffer on the way, and the
		# client is told it was the backend
		{
			printf 'POST /noread HTTP/1.1\r\nHost: api\r\nContent-Length: 67108864\r\n\r\n'
			head -c 67108864 /dev/zero
		} | in_pod web "$BIN/azds-probe" raw "$API" --no-shutdown --timeout 60 >"$WORK/stall" 2>&1
		r=$(head -c 4096 "$WORK/stall")
		expect_contains "a backend that stops reading the body: 504" "$r" "HTTP/1.1 504"
		expect_contains "... naming the backend" "$r" "stopped reading the request body"
		# the keep-alive idle timeout after a whole exchange: a plain close
		printf 'GET /idle-after HTTP/1.1\r\nHost: api\r\n\r\n' |
			in_pod web "$BIN/azds-probe" raw "$API" --no-shutdown --timeout 60 >"$WORK/stall" 2>&1
		echo "rc=$?" >>"$WORK/stall"
		r=$(cat "$WORK/stall")
		expect_contains "idle after a whole exchange: the response came" "$r" "path=/idle-after"
		expect_not_contains "... then a plain close, not a reset" "$r" "reset"
		expect_contains "... (the client saw its end)" "$r" "rc=0"
	else
		bad "stall: router refused the setting ($ROUTER_ERR)"
	fi
	router_with

	# (f) a backend port where nothing listens: the 502 says the connect was
	# refused, not that the backend hung up mid-answer
	$CTL service add dev nolisten --port 80 --target-port 9999 >/dev/null || bad "service nolisten"
	$INIT add --pod nl-1 --space dev --service nolisten >/dev/null || bad "pod nl-1"
	r=$(probe web get nolisten:80 / --timeout 20)
	expect_contains "nothing listens on the target port: 502" "$r" "HTTP/1.1 502"
	expect_contains "... naming the refused connect" "$r" "connecting to backend $(pod_addr nl-1):9999 for \"nolisten\": Connection refused"
	$INIT del --pod nl-1 >/dev/null

	# (g) a client's Connection: close goes no further (the backend keeps its
	# connection for the pool), but the response tells the client it closes
	r=$(raw web "$API" 'GET /cc HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n')
	expect_contains "Connection: close asked: answered" "$r" "path=/cc"
	expect_eq "... with one Connection: close in the response head" \
		"$(printf '%s' "$r" | tr -d '\r' | sed '/^$/q' | grep -ci '^connection: close$')" 1
	# ... and the backend's connection, which the backend kept, serves the next client
	if router_with "$OPT_WORKERS" 1; then
		a=$(raw web "$API" 'GET /cc1 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n' | tr -d '\r' | sed -n 's/^X-Conn: //p')
		b=$(raw web "$API" 'GET /cc2 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n' | tr -d '\r' | sed -n 's/^X-Conn: //p')
		if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "Connection: close clients: the backend connection is pooled and reused ($a)"
		else bad "Connection: close clients: backend connections [$a] then [$b]"; fi
	else
		bad "close reuse: router refused the setting ($ROUTER_ERR)"
	fi
	router_with
}

# === 7. access log: off by default; bounded, rotated, 0640, no query strings =====
t_accesslog() {
	local r f=$WORK/al/access.log f2=$WORK/al2/access.log long rot
	r=$(probe web get api:80 '/al-default-marker?secret=s1')
	expect_contains "access log default: request served" "$r" "pod=api-dev"
	stop_router # flushes whatever it buffered
	expect_not_contains "access log off by default: no per-request line in the router's log" \
		"$(cat "$RUN/router.log")" "al-default-marker"
	expect_eq "access log off by default: no access log file" "$(ls "$RUN" | grep -ci access)" 0
	mkdir -p "$WORK/al" "$WORK/al2"
	if ! router_with "$OPT_ACCESS_LOG" "$f" "$OPT_ACCESS_LOG_MAX" 16384; then
		bad "access log: router refused the settings ($ROUTER_ERR)"
		return
	fi
	long=/al-many-$(head -c 150 /dev/zero | tr '\0' 'x')
	# /al-q on the same connection, after the 600: the same worker logs it last. (On its own
	# connection another worker could log it first, and the 600's lines, flushed after it at the
	# stop, rotate it out: the bound keeps the last lines each worker wrote, not a global order.)
	probe web get api:80 "$long?secret=many" --keepalive 600 --then '/al-q?secret=hunter2' >"$WORK/many.out"
	expect_eq "access log: 600 requests answered" "$(grep -c "path=$long" "$WORK/many.out")" 600
	stop_router
	[ -f "$f" ] && ok "access log: the file exists" || bad "access log: no file $f"
	expect_eq "access log: mode 0640" "$(stat -c %a "$f" 2>/dev/null)" 640
	expect_contains "access log: the request is logged" "$(cat "$f" 2>/dev/null)" "/al-q"
	expect_not_contains "access log: its query string is not" "$(cat "$f"* 2>/dev/null)" "hunter2"
	expect_not_contains "access log: no query string at all" "$(cat "$f"* 2>/dev/null)" "secret="
	r=$(stat -c %s "$f" 2>/dev/null)
	[ -n "$r" ] && [ "$r" -le 16384 ] && ok "access log: size within its bound ($r bytes)" ||
		bad "access log: size [$r] over the bound of 16384"
	rot=$(ls "$f".* 2>/dev/null | head -1)
	[ -n "$rot" ] && ok "access log: rotated ($(basename "$rot"))" || bad "access log: no rotated file after 600 requests"
	[ -n "$rot" ] && expect_eq "access log: the rotated file is 0640 too" "$(stat -c %a "$rot")" 640
	[ -n "$rot" ] && [ "$(stat -c %s "$rot")" -le 16384 ] && ok "access log: the rotated file is bounded too"
	if router_with "$OPT_ACCESS_LOG" "$f2" "$OPT_ACCESS_LOG_QUERY"; then
		probe web get api:80 '/al-q2?secret=visible' >/dev/null
		stop_router
		expect_contains "access log with query strings when asked" "$(cat "$f2" 2>/dev/null)" "/al-q2?secret=visible"
	else
		bad "access log with query strings: router refused the settings ($ROUTER_ERR)"
	fi
	router_with
}

# === 8. defects a review found: each a crash, a wrong reuse or a starved pod ======
t_review() {
	local r API a b i idle
	API=$(vip api)
	# an HTTP/1.0 client and a chunked response whose head grows when rebuilt
	# (120 "hN:v" lines): the router rebuilds it whole and lives on
	printf 'GET /stream?chunked=always&headers=120 HTTP/1.0\r\nHost: api\r\n\r\n' |
		in_pod web "$BIN/azds-probe" raw "$API" --timeout 10 >"$WORK/raw10h" 2>&1
	r=$(tr -d '\r' <"$WORK/raw10h")
	expect_contains "HTTP/1.0, a grown head: 200" "$r" "HTTP/1.1 200"
	expect_contains "... every header line passed on" "$r" "h119: v"
	expect_contains "... then the body" "$r" "chunk 3 of 3"
	r=$(probe web get api:80 /alive)
	expect_contains "... and the router still serves" "$r" "pod=api-dev"
	# a chunked body cut short, de-chunked for HTTP/1.0: our close is the end
	# of its body, so it must be a reset, never a clean end
	r=$(raw web "$API" 'GET /stream?chunked=always&cut=1 HTTP/1.0\r\nHost: api\r\n\r\n')
	expect_contains "HTTP/1.0, truncated chunked body: the client sees a reset" "$r" "reset"
	if router_with "$OPT_WORKERS" 1; then
		# an HTTP/1.0 request the backend answers without saying it will close
		r=$(raw client-x "$(vip ex)" 'GET /quietclose HTTP/1.0\r\nHost: ex\r\n\r\n')
		expect_contains "HTTP/1.0 to a backend that closes quietly: answered" "$r" "path=/quietclose"
		r=$(probe client-x get ex:80 /echo -X POST -d hello)
		expect_contains "... the next POST does not get its dying connection" "$r" "body-bytes=5"
		# a tunnel's first bytes are the first of a connection, never sent on
		# a pooled one
		a=$(xconn "$(probe web get api:80 /warm -i)")
		r=$(printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' | in_pod web "$BIN/azds-probe" raw "$API" --timeout 5 2>&1)
		b=$(xconn "$r")
		if [ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ]; then ok "h2c preface on a new backend connection ($a then $b)"
		else bad "h2c preface on a pooled connection: [$a] then [$b]: $r"; fi
	else
		bad "review checks: router refused --workers 1 ($ROUTER_ERR)"
	fi
	# a pod past its share that keeps connecting holds nothing of the budget:
	# another pod is served while it holds 80 refused connections open
	if router_with "$OPT_MAX_CONNS" 100 "$OPT_MAX_CONNS_PER_POD" 20; then
		in_pod web "$BIN/azds-idle" "$API" 100 >"$WORK/flood.out" 2>&1 &
		idle=$!
		for i in $(seq 1 400); do
			grep -qs "^open" "$WORK/flood.out" && break
			kill -0 $idle 2>/dev/null || break
			sleep 0.05
		done
		r=$(probe client-x get api:80 / -H 'azds-route-as: dev' --timeout 10)
		expect_contains "a flooding pod past its share does not starve another" "$r" "pod=api-dev"
		kill $idle 2>/dev/null
		wait $idle 2>/dev/null
	else
		bad "flood: router refused the settings ($ROUTER_ERR)"
	fi
	# pods that fill the router with connections they never use (each within
	# its share) do not keep a third out: the newcomer gets in, an idle
	# connection of the largest holder is closed for it
	if router_with "$OPT_MAX_CONNS" 40 "$OPT_MAX_CONNS_PER_POD" 20; then
		in_pod web "$BIN/azds-idle" "$API" 20 >"$WORK/flood1.out" 2>&1 &
		a=$!
		in_pod echo-dev "$BIN/azds-idle" "$API" 20 >"$WORK/flood2.out" 2>&1 &
		b=$!
		for i in $(seq 1 400); do
			grep -qs "^open" "$WORK/flood1.out" && grep -qs "^open" "$WORK/flood2.out" && break
			kill -0 $a 2>/dev/null || break
			sleep 0.05
		done
		expect_eq "two pods hold the router's 40 connections" \
			"$(ip netns exec "azds-$INST-node" ss -Htn state established sport = :80 | wc -l)" 40
		r=$(probe client-x get api:80 / -H 'azds-route-as: dev' --timeout 10)
		expect_contains "a full router of idle connections still serves a third pod" "$r" "pod=api-dev"
		kill $a $b 2>/dev/null
		wait $a $b 2>/dev/null
		stop_router
		n=$(sed -n 's/^azds-router: worker [0-9]*: .*, \([0-9]*\) idle clients closed for newcomers$/\1/p' "$RUN/router.log" |
			awk '{ s += $1 } END { print s + 0 }')
		[ "$n" -ge 1 ] && ok "... $n of their idle connections closed for it" || bad "... none of their connections was closed: $(cat "$RUN/router.log")"
	else
		bad "full router: router refused the settings ($ROUTER_ERR)"
	fi
	router_with
}

# ONLY=t_NAME runs one group (while working on it)
if [ -n "${ONLY:-}" ]; then
	"$ONLY"
	finish
	exit
fi

t_desync
t_pool
t_replay
t_routeas
t_edges
t_pool_settings
t_fair
t_accesslog
t_review
finish
