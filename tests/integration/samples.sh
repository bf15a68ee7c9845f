#!/bin/bash
# SPDX-License-Identifier: MIT
# The bikeshop sample (samples/bikeshop) on its own, without azds: the C
# service builds warning-clean, the three services run on loopback with each
# pointed at the next (web -> api -> data), and requests through web show
# every hop answering, azds-route-as, baggage, traceparent and tracestate
# arriving at data unchanged (repeated lines included), and a hop that is
# down or hangs named in a 502 or 504. Ports are picked by the kernel (PORT=0;
# each service prints the one it got). Only processes this script started
# are stopped, by pid, checked against a mark in their environment; a crashed
# earlier run's are stopped first.
# $1, the build's bin dir (as ctest passes it), is only for `azds up --dry-run`
# on each folder; without it that check is skipped.
set -u
BIN=${1:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
APP=$SRC/samples/bikeshop
WORK=/tmp/azds-samples-${AZDS_TEST_PREFIX:-}samples
MARK="AZDS_SAMPLES_TEST=$WORK"
PASS=0
FAIL=0

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$3], got [$2]"; fi
}
expect_contains() {
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) bad "$1: expected to contain [$3], got [$2]" ;;
	esac
}

# ours PID: is PID a process this test (this run or a crashed earlier one) started?
ours() {
	tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF "$MARK"
}

# stop PID: SIGTERM a process of ours and reap it if it is our child
stop() {
	ours "$1" || return 0
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	# not our child (an earlier run's): wait for it to go, bounded
	local i
	for i in $(seq 1 100); do
		[ -d "/proc/$1" ] || return 0
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
}

stop_all() {
	local pid
	[ -f "$WORK/pids" ] || return 0
	while read -r pid _; do
		stop "$pid"
	done <"$WORK/pids"
}

cleanup() {
	stop_all
	rm -rf "$WORK"
}
stop_all # an earlier, crashed run's
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in node python3 make cc curl jq; do
	if ! command -v $tool >/dev/null; then
		echo "FAIL $tool is not installed (the bikeshop needs nodejs, python3, make, gcc; the test curl and jq)"
		exit 1
	fi
done

# start NAME ENV... -- CMD...: start a service in the background, logging to
# $WORK/NAME.log; waits until it prints its "listening on" line and sets PORT
# to the port it got (readiness only: the wait is bounded, never a verdict on time)
start() {
	local name=$1 pid i
	shift
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	env -u AZDS_SPACE -u AZDS_POD "$MARK" LISTEN_ADDR=127.0.0.1 PORT=0 "${envs[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	pid=$!
	echo "$pid $name" >>"$WORK/pids"
	eval "PID_$name=$pid"
	PORT=
	for i in $(seq 1 600); do
		PORT=$(sed -n 's/^[a-z]*: listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$WORK/$name.log")
		[ -n "$PORT" ] && return 0
		# gone, or a zombie: it exited
		grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && break
		[ -d "/proc/$pid" ] || break
		sleep 0.05
	done
	bad "$name did not start: $(cat "$WORK/$name.log")"
	exit 1
}

# get NAME PORT PATH [curl args...]: one request; sets STATUS, HEAD (the
# response head, CRs removed) and BODY, and keeps the body in $WORK/NAME.json
get() {
	local name=$1 port=$2 path=$3
	shift 3
	STATUS=$(curl -sS --noproxy '*' -m 30 -D "$WORK/$name.head" -o "$WORK/$name.json" -w '%{http_code}' \
		"$@" "http://127.0.0.1:$port$path" 2>"$WORK/$name.err")
	HEAD=$(tr -d '\r' <"$WORK/$name.head" 2>/dev/null)
	BODY=$(cat "$WORK/$name.json" 2>/dev/null)
	[ -s "$WORK/$name.err" ] && echo "     curl: $(cat "$WORK/$name.err")"
}

# field NAME a.b.c: a value of $WORK/NAME.json (strings as they are, anything else as
# compact JSON); numeric parts index arrays
field() {
	local p
	p=$(printf '%s' "$2" | jq -Rc 'split(".") | map(tonumber? // .)')
	jq -r --argjson p "$p" 'getpath($p) | if type == "string" then . else tojson end' "$WORK/$1.json"
}

header() {
	printf '%s\n' "$HEAD" | sed -n "s/^$1: //Ip" | head -1
}

# --- what azds reads: azds.yaml in Dev Spaces' schema, a chart, a Dockerfile ---
PYY=
for py in /usr/bin/python3 python3; do
	if "$py" -c 'import yaml' 2>/dev/null; then
		PYY=$py
		break
	fi
done
[ -n "$PYY" ] || bad "no python3 with the yaml module (Debian: python3-yaml)"
for s in web api data; do
	[ -n "$PYY" ] || break
	OUT=$("$PYY" - "$APP/$s" "$s" 2>&1 <<-'EOF'
		import os, sys, yaml
		d, name = sys.argv[1], sys.argv[2]
		missing = []
		def need(cond, what):
		    if not cond:
		        missing.append(what)
		a = yaml.safe_load(open(f"{d}/azds.yaml"))
		need(a["kind"] == "helm-release" and str(a["apiVersion"]) == "1.1", "kind, apiVersion")
		need(a["build"] == {"context": ".", "dockerfile": "Dockerfile"}, "build")
		i = a["install"]
		need(i["chart"] == f"charts/{name}" and i["values"] == ["values.dev.yaml?", "secrets.dev.yaml?"], "install")
		need(i["set"]["image"]["tag"] == "$(tag)", "install.set.image.tag")
		need(i["set"]["ingress"]["hosts"] == [f"$(spacePrefix)$(rootSpacePrefix){name}$(hostSuffix)"], "the host")
		c = a["configurations"]["develop"]["container"]
		need(c["sync"] and c["command"], "sync, command")
		need(c["iterate"]["processesToKill"] and c["iterate"]["buildCommands"], "iterate")
		ch = f"{d}/charts/{name}"
		meta = yaml.safe_load(open(f"{ch}/Chart.yaml"))
		need(meta["name"] == name and meta["version"] and meta["apiVersion"] == "v1", "Chart.yaml")
		v = yaml.safe_load(open(f"{ch}/values.yaml"))
		need(v["fullnameOverride"] == name, "values.fullnameOverride")
		need(all(k in v for k in ("replicaCount", "image", "service", "ingress", "env")), "values")
		for t in ("deployment.yaml", "service.yaml", "ingress.yaml", "_helpers.tpl"):
		    need(os.path.isfile(f"{ch}/templates/{t}"), f"templates/{t}")
		df = open(f"{d}/Dockerfile").read().splitlines()
		need(df[0].startswith("FROM ") and "WORKDIR /app" in df and "EXPOSE 80" in df, "Dockerfile")
		need(df[-1].startswith('CMD ["') and any(l.startswith("RUN ") for l in df), "Dockerfile RUN, CMD")
		print("missing: " + ", ".join(missing) if missing else "ok")
	EOF
	)
	expect_eq "$s: azds.yaml, the chart and the Dockerfile have what they need" "$OUT" ok
	if [ -n "$BIN" ] && [ -x "$BIN/azds" ]; then
		OUT=$(cd "$APP/$s" && "$BIN/azds" up --dry-run </dev/null 2>&1)
		RC=$?
		expect_eq "$s: azds up --dry-run accepts the folder" "$RC" 0
		expect_contains "$s: azds up --dry-run says so" "$OUT" "are valid; nothing was run"
	fi
done

# --- the C service builds warning-clean, outside the source folder ---
BEFORE=$(ls -A "$APP/data")
make -s -C "$APP/data" OUT="$WORK/data" CFLAGS="-O2 -Werror" >"$WORK/make.log" 2>&1
RC=$?
expect_eq "data builds with -Wall -Wextra -Werror" "$RC $(cat "$WORK/make.log")" "0 "
[ -x "$WORK/data" ] || exit 1
expect_eq "the build writes nothing into the source folder" "$(ls -A "$APP/data")" "$BEFORE"

# --- the chain: data (dev) <- api (dev/alice) <- web (dev), as alice's route runs it ---
start data AZDS_SPACE=dev AZDS_POD=data-1 -- "$WORK/data"
DATA=$PORT
start api AZDS_SPACE=dev/alice AZDS_POD=api-alice DATA_HOST=127.0.0.1 DATA_PORT=$DATA -- python3 "$APP/api/app.py"
API=$PORT
start web AZDS_SPACE=dev AZDS_POD=web-1 API_HOST=127.0.0.1 API_PORT=$API -- node "$APP/web/server.js"
WEB=$PORT
expect_contains "api says where it calls data" "$(cat "$WORK/api.log")" "data at 127.0.0.1:$DATA"

# data's own answer, byte for byte
get d "$DATA" /bikes -H 'azds-route-as: alice'
expect_eq "data /bikes: 200" "$STATUS" 200
expect_eq "data /bikes: the bytes" "$BODY" \
	'{"service":"data","space":"dev","pod":"data-1","bikes":[{"id":1,"name":"Roadrunner","kind":"road","price_per_hour":"4.50"},{"id":2,"name":"Mudlark","kind":"mountain","price_per_hour":"6.00"},{"id":3,"name":"Cargo Carl","kind":"cargo","price_per_hour":"7.50"},{"id":4,"name":"Tandem Twins","kind":"tandem","price_per_hour":"9.00"}],"received":{"azds-route-as":"alice","baggage":null,"traceparent":null,"tracestate":null}}'
expect_eq "data names itself in the head" "$(header X-Azds-Service) $(header X-Azds-Space)" "data dev"
expect_eq "data's type" "$(header Content-Type)" "application/json"

# through web, with every field a tracing library would send
RA=alice
BAG='azds-route-as=alice,userId=alice%40example.com;tier=gold , sessionId=42;ttl=60,k=v=w'
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
TS='rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'
get w "$WEB" /api/bikes -H "azds-route-as: $RA" -H "baggage: $BAG" -H "traceparent: $TP" -H "tracestate: $TS"
expect_eq "web /api/bikes: 200" "$STATUS" 200
expect_eq "every hop answered, and says which space" "$(field w chain)" "web (dev) -> api (dev/alice) -> data (dev)"
expect_eq "each hop names its pod" "$(field w pod) $(field w api.pod) $(field w api.data.pod)" "web-1 api-alice data-1"
expect_eq "api adds its greeting" "$(field w api.greeting)" "Welcome to the bikeshop!"
expect_eq "data's bikes come through" "$(field w api.data.bikes.3.name) $(field w api.data.bikes.0.price_per_hour)" \
	"Tandem Twins 4.50"
for hop in "" api. api.data.; do
	at=${hop:-web.}
	expect_eq "azds-route-as reached ${at%.} unchanged" "$(field w "${hop}received.azds-route-as")" "$RA"
	expect_eq "baggage reached ${at%.} unchanged" "$(field w "${hop}received.baggage")" "$BAG"
	expect_eq "traceparent reached ${at%.} unchanged" "$(field w "${hop}received.traceparent")" "$TP"
	expect_eq "tracestate reached ${at%.} unchanged" "$(field w "${hop}received.tracestate")" "$TS"
done
# the same, as bytes: each hop's "received" object is in web's answer once
RECV="\"received\":{\"azds-route-as\":\"$RA\",\"baggage\":\"$BAG\",\"traceparent\":\"$TP\",\"tracestate\":\"$TS\"}"
expect_eq "three hops' received fields, byte for byte" "$(grep -oF "$RECV" "$WORK/w.json" | wc -l)" 3
expect_eq "web names itself in the head" "$(header X-Azds-Service) $(header X-Azds-Space)" "web dev"
expect_contains "api logged the request with its route" "$(cat "$WORK/api.log")" "api: GET /bikes 200 route-as=alice"
expect_contains "data logged it" "$(cat "$WORK/data.log")" "data: GET /bikes 200 route-as=alice"
expect_contains "web logged it" "$(cat "$WORK/web.log")" "web: GET /api/bikes 200 route-as=alice"

# repeated baggage lines: every line goes on, in order; data joins them as one list
get w2 "$WEB" /api/bikes -H 'baggage: b1=first;p=1' -H 'baggage: b2=second' -H 'Baggage: b3=third'
expect_eq "repeated baggage lines reach data in order" "$(field w2 api.data.received.baggage)" \
	"b1=first;p=1, b2=second, b3=third"
expect_eq "nobody invents a route" "$(field w2 api.data.received.azds-route-as) $(field w2 api.data.received.traceparent)" \
	"null null"

# no fields at all: none appear on the way
get w3 "$WEB" /api/bikes
expect_eq "without fields, data receives none" "$(field w3 api.data.received)" \
	'{"azds-route-as":null,"baggage":null,"traceparent":null,"tracestate":null}'
# quotes, backslashes and a byte outside ASCII (0xe9, Latin-1's e-acute) go on as they came;
# data writes the byte as \u00e9, so its JSON stays valid
ODD=$(printf 'q="x\\y";caf\351')
get w5 "$WEB" /api/bikes -H "baggage: $ODD"
expect_eq "odd bytes in baggage reach data unchanged" "$(field w5 api.data.received.baggage)" "$(printf 'q="x\\y";caf\303\251')"
get d5 "$DATA" /bikes -H "baggage: $ODD"
expect_contains "data escapes them in JSON" "$BODY" '"baggage":"q=\"x\\y\";caf\u00e9"'
# field names are case-insensitive
get w4 "$WEB" /api/bikes -H 'AZDS-Route-As: bob'
expect_eq "a field's name in any case" "$(field w4 api.data.received.azds-route-as)" "bob"

# --- the page ---
get page "$WEB" /
expect_eq "web /: 200 HTML" "$STATUS $(header Content-Type)" "200 text/html; charset=utf-8"
expect_contains "the page" "$BODY" "<title>Bikeshop</title>"
get js "$WEB" /app.js
expect_eq "web /app.js: 200" "$STATUS" 200
expect_contains "the page's script asks /api/bikes" "$BODY" "fetch('api/bikes'"
get nope "$WEB" /../server.js --path-as-is
expect_eq "web serves only its public files" "$STATUS $(field nope service)" "404 web"

# --- data's HTTP: errors, keep-alive, pipelining ---
get dn "$DATA" /nope
expect_eq "data: unknown path 404" "$STATUS $(field dn error)" "404 no such path (data answers /bikes and /healthz)"
get dm "$DATA" /bikes -X DELETE
expect_eq "data: a method it does not serve 405" "$STATUS $(header Allow)" "405 GET, HEAD"
get dl "$DATA" /bikes -H "x-big: $(head -c 20000 /dev/zero | tr '\0' a)"
expect_eq "data: a head over 16 KiB 431" "$STATUS" 431
get db "$DATA" /bikes -d 'body'
expect_eq "data: a request body 413" "$STATUS $(field db error)" "413 data takes no request body"
get dh "$DATA" /healthz -I
expect_eq "data: HEAD /healthz" "$STATUS $(header Content-Length)" "200 3"
# two requests in one write, one connection: two answers in order, then the close asked for
exec 3<>"/dev/tcp/127.0.0.1/$DATA"
printf 'GET /healthz HTTP/1.1\r\nHost: d\r\n\r\nGET /bikes HTTP/1.1\r\nHost: d\r\nbaggage: x=1\r\nConnection: close\r\n\r\n' >&3
PIPE=$(timeout 20 cat <&3 | tr -d '\r')
exec 3<&-
expect_eq "data: pipelined requests answered in order" "$(printf '%s\n' "$PIPE" | grep -c '^HTTP/1.1 200 OK$')" 2
expect_contains "data: the second answer is the second request's" "$PIPE" '"baggage":"x=1"'
expect_contains "data: the close it was asked for" "$PIPE" "Connection: close"

# --- a hop that hangs: 504 naming it (a listener that never accepts) ---
start hang -- python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print("hang: listening on 127.0.0.1:%d (never answers)" % s.getsockname()[1], flush=True)
time.sleep(3600)
'
HANG=$PORT
start api2 DATA_HOST=127.0.0.1 DATA_PORT=$HANG UPSTREAM_TIMEOUT_MS=300 -- python3 "$APP/api/app.py"
API2=$PORT
start web2 AZDS_SPACE=dev API_HOST=127.0.0.1 API_PORT=$API2 -- node "$APP/web/server.js"
WEB2=$PORT
get t1 "$WEB2" /api/bikes -H 'azds-route-as: alice'
expect_eq "data hangs: 504 through web" "$STATUS" 504
expect_eq "data hangs: the failed hop" "$(field t1 failed_hop) / $(header X-Failed-Hop)" "api -> data / api -> data"
expect_eq "data hangs: api's words" "$(field t1 upstream.error)" "data did not answer within 300 ms (127.0.0.1:$HANG)"
expect_eq "an api without AZDS_SPACE says unknown" "$(field t1 upstream.space)" "unknown"
start web3 AZDS_SPACE=dev API_HOST=127.0.0.1 API_PORT=$HANG UPSTREAM_TIMEOUT_MS=300 -- node "$APP/web/server.js"
get t2 "$PORT" /api/bikes
expect_eq "api hangs: 504 naming web -> api" "$STATUS $(field t2 failed_hop)" "504 web -> api"
expect_eq "api hangs: web's words" "$(field t2 error)" "api did not answer within 300 ms (127.0.0.1:$HANG)"

# --- alice's change, as the README makes it: one line of api/app.py ---
mkdir -p "$WORK/alice"
sed 's/^GREETING = .*/GREETING = "Hello from alice'"'"'s space!"/' "$APP/api/app.py" >"$WORK/alice/app.py"
expect_eq "the README's edit changes one line" "$(diff "$APP/api/app.py" "$WORK/alice/app.py" | grep -c '^>')" 1
start alice AZDS_SPACE=dev/alice DATA_HOST=127.0.0.1 DATA_PORT=$DATA -- python3 "$WORK/alice/app.py"
get a "$PORT" /bikes -H 'azds-route-as: alice'
expect_eq "alice's api answers with her greeting" "$STATUS $(field a greeting)" "200 Hello from alice's space!"
expect_eq "and data's bikes" "$(field a data.service) $(field a data.bikes.0.name)" "data Roadrunner"

# --- a hop that is down: 502 naming it ---
stop "$PID_data"
get f1 "$WEB" /api/bikes -H 'azds-route-as: alice'
expect_eq "data down: 502 through web" "$STATUS" 502
expect_eq "data down: the failed hop" "$(field f1 failed_hop) / $(header X-Failed-Hop)" "api -> data / api -> data"
expect_eq "data down: web's words" "$(field f1 error)" \
	"api answered 502: data refused the connection (127.0.0.1:$DATA): is it running?"
expect_eq "data down: api's answer is kept" "$(field f1 upstream.service) $(field f1 upstream.space)" "api dev/alice"
expect_eq "data down: the fields still reached api" "$(field f1 upstream.received.azds-route-as)" "alice"
get f2 "$WEB" /
expect_eq "data down: the page still loads" "$STATUS" 200
stop "$PID_api"
get f3 "$WEB" /api/bikes
expect_eq "api down: 502 naming web -> api" "$STATUS $(field f3 failed_hop) $(header X-Failed-Hop)" \
	"502 web -> api web -> api"
expect_eq "api down: web's words" "$(field f3 error)" "api refused the connection (127.0.0.1:$API): is it running?"

# --- a clean stop on SIGTERM ---
kill -TERM "$PID_web"
wait "$PID_web"
expect_eq "web stops on SIGTERM with status 0" "$?" 0
expect_contains "web said so" "$(cat "$WORK/web.log")" "web: stopping"

echo "samples: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
