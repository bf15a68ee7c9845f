#!/bin/bash
# SPDX-License-Identifier: MIT
# The local ingress (docs/ingress.md), from the host's network namespace
# with curl: Dev Spaces' host scheme (<service>.localhost,
# <space>.<service>.localhost, <child>.s.<space>.<service>.localhost), the
# route-as it inserts reaching the backend and the next hop, a request's
# own route-as winning, the 404s of names it does not know, the forward
# preamble (AZDS-FORWARD) and azds up's forward function (cli/forward.c,
# driven by a small program compiled here against the build), the ingress
# surviving restart-router, a kill -9 of the router and a controller
# restart, and a port in use.
INST="${AZDS_TEST_PREFIX:-}ingress"
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(dirname "$BIN")
SOCK=/run/azds/$INST/api.sock
FWD_PID=
HOLD_PID=

cleanup() {
	[ -n "$FWD_PID" ] && kill "$FWD_PID" 2>/dev/null
	[ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

api() { # api METHOD PATH [BODY]: the body, then " STATUS"
	local m=$1 p=$2
	shift 2
	curl -s --max-time 20 --unix-socket "$SOCK" -X "$m" -w ' %{http_code}' ${1:+-d "$1"} "http://azds$p"
}

# start_ctl [run options...]: the daemon, as `azds controller start` runs it
start_ctl() {
	local i
	setsid "$BIN/azds-controller" -i "$INST" run "$@" >>"$WORK/controller.log" 2>&1 </dev/null &
	for i in $(seq 1 300); do
		case "$(api GET /v1/healthz 2>/dev/null)" in *" 200") return 0 ;; esac
		sleep 0.05
	done
	echo "the controller did not become ready:" >&2
	tail -20 "$WORK/controller.log" >&2
	exit 1
}

# stop_ctl: the daemon exits; router, DNS and pods run on
stop_ctl() {
	local p i
	p=$(cat "/run/azds/$INST/controller.pid" 2>/dev/null)
	api POST /v1/shutdown '{"all":false}' >/dev/null
	for i in $(seq 1 300); do
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
		sleep 0.05
	done
}

# get HOST [PATH] [curl args...]: a request to the ingress with that Host
get() {
	local h=$1 p=${2:-/}
	shift 2
	curl -s --max-time 10 -H "Host: $h" "$@" "http://127.0.0.1:$PORT$p"
}

# raw BYTES: bytes sent on one connection to the ingress, the answer printed
raw() {
	python3 - "$PORT" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    if not b:
        break
    out += b
sys.stdout.write(out.decode("latin-1"))
EOF
}

router_pid() { api GET /v1/status | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().rsplit(" ",1)[0])["router"]["pid"])'; }
ingress_field() { api GET /v1/status | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().rsplit(" ",1)[0])["ingress"].get(sys.argv[1]))' "$1"; }

# until the ingress answers for HOST from the pod named (readiness only)
wait_ingress() {
	local i
	for i in $(seq 1 200); do
		case "$(get "$1" / 2>/dev/null)" in *"pod=$2 "*) return 0 ;; esac
		sleep 0.05
	done
	echo "the ingress never answered for $1 from $2" >&2
	return 1
}

cleanup # a crashed earlier run's instance
mkdir -p "$WORK"
PORT=$(free_port) || { echo "no free port"; exit 1; }
start_ctl --ingress-port "$PORT"

if [ "${SOCKMAP:-on}" = off ]; then
	expect_contains "sockmap switched off" "$(api PUT /v1/switches/sockmap '{"on":false}')" " 200"
fi

# ---- the node status names the ingress
expect_eq "status: the ingress port" "$(ingress_field port)" "$PORT"
expect_eq "status: the ingress listens" "$(ingress_field listening)" "True"
expect_contains "the router was handed the ingress" "$(cat /run/azds/$INST/router.log)" "local ingress on port $PORT (inherited)"
expect_contains "azds controller status shows it" "$("$BIN/azds" -i "$INST" controller status)" "127.0.0.1:$PORT"
expect_contains "the ingress is in the host's namespace" "$(ss -Hltn "sport = :$PORT")" "127.0.0.1:$PORT"

# ---- spaces dev and dev/alice, podserver pods behind web (dev) and api (both)
api POST /v1/spaces '{"items":[{"name":"dev"},{"name":"dev/alice"}]}' >/dev/null
for s in '"space":"dev","name":"web"' '"space":"dev","name":"api"' '"space":"dev/alice","name":"api"'; do
	r=$(api POST /v1/services "{$s,\"port\":80,\"target_port\":8080}")
	expect_contains "service {$s}" "$r" " 201"
done
r=$(api POST /v1/services '{"space":"dev","name":"echo","kind":"tcp","port":7000,"target_port":7000}')
expect_contains "tcp service echo in dev" "$r" " 201"
pod() { # pod NAME SPACE SERVICE [podserver args]
	local n=$1 sp=$2 svc=$3
	shift 3
	local extra=""
	for a in "$@"; do extra="$extra,\"$a\""; done
	api POST /v1/pods "{\"name\":\"$n\",\"space\":\"$sp\",\"services\":[\"$svc\"],\"command\":[\"$BIN/podserver\",\"--pod\",\"$n\",\"--space\",\"$sp\",\"--service\",\"$svc\"$extra]}"
}
expect_contains "pod web" "$(pod web dev web)" " 201"
expect_contains "pod api-dev" "$(pod api-dev dev api)" " 201"
expect_contains "pod api-alice" "$(pod api-alice dev/alice api)" " 201"
expect_contains "pod echo-dev" "$(pod echo-dev dev echo --tcp --listen 0.0.0.0:7000)" " 201"
wait_ingress dev.api.localhost api-dev && wait_ingress alice.s.dev.api.localhost api-alice &&
	wait_ingress dev.web.localhost web || exit 1

# ---- the host scheme
r=$(get dev.api.localhost)
expect_contains "dev.api.localhost: dev's api" "$r" "pod=api-dev space=dev service=api"
expect_contains "... with no route-as added for a root space" "$r" "route-as=- "
r=$(get alice.s.dev.api.localhost)
expect_contains "alice.s.dev.api.localhost: alice's api" "$r" "pod=api-alice space=dev/alice"
expect_contains "... and the inserted azds-route-as reaches it" "$r" "route-as=alice "
r=$(get alice.s.dev.web.localhost)
expect_contains "alice has no web: dev's answers" "$r" "pod=web space=dev"
expect_contains "... carrying route-as alice" "$r" "route-as=alice "
r=$(get alice.s.dev.web.localhost '/call?url=http://api/')
expect_contains "a chain from alice.s.dev.web: hop 1 is dev's web" "$r" "pod=web space=dev"
expect_contains "... and hop 2 alice's api (the inserted header propagated)" "$r" "-> pod=api-alice space=dev/alice"
r=$(get dev.web.localhost '/call?url=http://api/')
expect_contains "the same chain from dev.web: dev's api" "$r" "-> pod=api-dev space=dev"
r=$(get 'ALICE.S.Dev.API.localhost.:'"$PORT")
expect_contains "case, a port and a trailing dot are taken" "$r" "pod=api-alice"
r=$(curl -s --max-time 10 "http://alice.s.dev.api.localhost:$PORT/")
expect_contains "curl resolves *.localhost to loopback itself, as browsers do" "$r" "pod=api-alice"
r=$(curl -sv --max-time 10 -H 'Host: alice.s.dev.api.localhost' "http://127.0.0.1:$PORT/" --next \
	-H 'Host: dev.api.localhost' "http://127.0.0.1:$PORT/" --next -H 'Host: alice.s.dev.web.localhost' \
	"http://127.0.0.1:$PORT/" 2>&1)
expect_eq "one keep-alive connection, a Host per request" "$(echo "$r" | grep -o 'pod=[a-z-]*' | tr '\n' ' ')" \
	"pod=api-alice pod=api-dev pod=web "
expect_contains "... on one connection" "$r" "Re-using existing connection"
head -c 200000 /dev/urandom | base64 -w 0 >"$WORK/body"
sum=$(md5sum <"$WORK/body" | cut -d' ' -f1)
get alice.s.dev.api.localhost /echo --data-binary @"$WORK/body" -o "$WORK/echo1"
expect_eq "a POST body through the ingress arrives unchanged" "$(tail -n +2 "$WORK/echo1" | md5sum | cut -d' ' -f1)" "$sum"
get alice.s.dev.api.localhost /echo -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/body" -o "$WORK/echo2"
expect_eq "... chunked too" "$(tail -n +2 "$WORK/echo2" | md5sum | cut -d' ' -f1)" "$sum"
r=$(get alice.s.dev.api.localhost / -H 'Connection: close' -v 2>&1)
expect_contains "Connection: close and an inserted header together" "$r" "route-as=alice "

r=$(raw 'GET /p1 HTTP/1.1\r\nHost: alice.s.dev.api.localhost\r\n\r\nGET /p2 HTTP/1.1\r\nHost: dev.api.localhost\r\n\r\nGET /p3 HTTP/1.1\r\nHost: alice.s.dev.web.localhost\r\nConnection: close\r\n\r\n')
expect_eq "pipelined requests with three Hosts, answered in order" \
	"$(echo "$r" | grep -o 'pod=[a-z-]* space=[a-z/]* service=[a-z]* method=GET path=/p[0-9] route-as=[a-z-]*' | awk '{print $1, $5, $6}' | tr '\n' ' ')" \
	"pod=api-alice path=/p1 route-as=alice pod=api-dev path=/p2 route-as=- pod=web path=/p3 route-as=alice "
r=$(raw 'GET /ws HTTP/1.1\r\nHost: alice.s.dev.api.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
expect_contains "a websocket upgrade by Host: 101" "$r" "HTTP/1.1 101"
expect_contains "... from alice's api" "$r" "hello from api-alice"
big=$(head -c 20000 /dev/zero | tr '\0' a)
r=$(get alice.s.dev.api.localhost / -i -H "X-Big: $big")
expect_contains "a head over the limit through the ingress: 431" "$r" "HTTP/1.1 431"
r=$(python3 - "$PORT" <<'EOF'
import socket, sys, time
# the preamble and the request a byte per send: the router waits for the line
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for b in b"AZDS-FORWARD api dev/alice\r\nGET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
    s.send(bytes([b]))
    time.sleep(0.002)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode("latin-1"))
EOF
)
expect_contains "a preamble and request that arrive a byte at a time" "$r" "pod=api-alice space=dev/alice service=api method=GET path=/slow route-as=alice"

# ---- the request's own route-as wins, resolved against the host's space
r=$(get alice.s.dev.api.localhost / -H 'azds-route-as: dev')
expect_contains "an explicit azds-route-as wins over the host's" "$r" "pod=api-dev"
expect_contains "... and goes on as it came" "$r" "route-as=dev "
r=$(get dev.api.localhost / -H 'azds-route-as: alice')
expect_contains "azds-route-as alice against dev.api.localhost: alice's api" "$r" "pod=api-alice"
r=$(get alice.s.dev.api.localhost / -H 'baggage: azds-route-as=dev')
expect_contains "a baggage member wins too" "$r" "pod=api-dev"
expect_contains "... and no header is added beside it" "$r" "route-as=- "

# ---- names the ingress does not serve: 404 with the forms
forms='<child>.s.<space>.<service>.localhost'
for h in 127.0.0.1 localhost example.com x.dev.api.localhost a.b.dev.api.localhost 'dev..api.localhost' '[::1]'; do
	r=$(get "$h" / -i)
	expect_contains "host $h: 404" "$r" "HTTP/1.1 404"
	expect_contains "... listing the forms" "$r" "$forms"
done
r=$(get dev.nope.localhost / -i)
expect_contains "an unknown service: 404 naming it" "$r" 'no service "nope"'
r=$(get nope.api.localhost / -i)
expect_contains "an unknown space: 404 naming it" "$r" 'no space "nope"'
r=$(get bob.s.dev.api.localhost / -i)
expect_contains "an unknown child space: 404 naming it" "$r" 'no space "dev/bob"'
r=$(get api.localhost / -i)
expect_contains "a service default does not have: 404 naming the chain" "$r" 'no service "api" in default'
r=$(get dev.echo.localhost / -i)
expect_contains "a TCP service by Host: 404" "$r" 'is not an HTTP service'
r=$(raw 'GET / HTTP/1.0\r\n\r\n')
expect_contains "HTTP/1.0 without Host: 404 saying it needs one" "$r" "needs a Host"

# ---- the forward preamble
r=$(raw 'AZDS-FORWARD api dev/alice\r\nGET /a HTTP/1.1\r\nHost: localhost:1\r\n\r\nGET /b HTTP/1.1\r\nHost: dev.api.localhost\r\nConnection: close\r\n\r\n')
expect_eq "the preamble pins a connection: both requests to alice's api" \
	"$(echo "$r" | grep -o 'pod=[a-z-]* space=[a-z/]* service=api method=GET path=/[ab] route-as=[a-z-]*' | tr '\n' ' ')" \
	"pod=api-alice space=dev/alice service=api method=GET path=/a route-as=alice pod=api-alice space=dev/alice service=api method=GET path=/b route-as=alice "
r=$(raw 'AZDS-FORWARD api dev\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
expect_contains "a root space's forward: dev's api, no route-as" "$r" "pod=api-dev space=dev service=api method=GET path=/ route-as=- "
r=$(raw 'AZDS-FORWARD echo dev\r\nhello\n')
expect_contains "a TCP service's forward is a tunnel: its banner" "$r" "echo-dev"
expect_contains "... and its echo" "$r" "hello"
r=$(raw 'AZDS-FORWARD api\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n')
expect_contains "a preamble without a space: 400" "$r" "HTTP/1.1 400"
expect_contains "... saying its grammar" "$r" 'AZDS-FORWARD <service> <space-path>'
r=$(raw 'AZDS-FORWARD Api dev\r\n')
expect_contains "a preamble with a bad service name: 400" "$r" "service is no name"
r=$(raw 'AZDS-FORWARD api dev\n')
expect_contains "a preamble without CRLF: 400" "$r" "must end with CRLF"
r=$(raw "AZDS-FORWARD api dev/$(printf 'a%.0s' $(seq 1 600))\r\n")
expect_contains "a preamble over 512 bytes: 400" "$r" "longer than 512 bytes"
r=$(raw 'AZDS-FORWARD api dev/bob\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n')
expect_contains "a preamble naming an unknown space: 404" "$r" 'no space "dev/bob"'

# ---- azds up's forward: azds_forward_start (cli/forward.c) in a small program
cat >"$WORK/fwd.c" <<'EOF'
// SPDX-License-Identifier: MIT
/* fwd INSTANCE SERVICE SPACE: the forward, its port on stdout, until killed */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "forward.h"

int main(int argc, char **argv)
{
	int port = 0;

	if (argc != 4 || azds_forward_start(argv[1], argv[2], argv[3], &port))
		return 1;
	printf("%d\n", port);
	fflush(stdout);
	for (;;)
		pause();
}
EOF
incs=$(sed -n 's/^C_INCLUDES = //p' "$BUILD/cli/CMakeFiles/azds.dir/flags.make")
lib=$(find "$BUILD" -name libazds_lib.a | head -1)
dplib=$(find "$BUILD" -name 'libazds_dp.a' | head -1)
if cc -O1 -D_GNU_SOURCE -std=gnu11 -Wall -Wextra -Werror -pthread $incs -I"$SRC/cli" -o "$WORK/fwd" "$WORK/fwd.c" "$SRC/cli/forward.c" "$SRC/cli/client.c" \
	"$SRC/cli/opts.c" \
	"$lib" ${dplib:+"$dplib"} -lbpf -lelf -lz -lcurl -ljansson 2>"$WORK/fwd.cc.log"; then
	"$WORK/fwd" "$INST" api dev/alice >"$WORK/fwd.port" 2>"$WORK/fwd.log" &
	FWD_PID=$!
	for i in $(seq 1 100); do [ -s "$WORK/fwd.port" ] && break; sleep 0.05; done
	FP=$(cat "$WORK/fwd.port")
	r=$(curl -s --max-time 10 "http://localhost:$FP/")
	expect_contains "azds_forward_start: http://localhost:<port> is alice's api" "$r" "pod=api-alice space=dev/alice"
	expect_contains "... routed as alice" "$r" "route-as=alice "
	r=$(curl -s --max-time 10 "http://127.0.0.1:$FP/call?url=http://api/" --next "http://127.0.0.1:$FP/")
	expect_contains "... propagated to the next hop" "$r" "-> pod=api-alice"
	curl -s --max-time 20 "http://127.0.0.1:$FP/echo" --data-binary @"$WORK/body" -o "$WORK/echo3"
	expect_eq "... a body both ways unchanged" "$(tail -n +2 "$WORK/echo3" | md5sum | cut -d' ' -f1)" "$sum"
	r=$(python3 - "$FP" <<'EOF'
import socket, sys
# a half-close passes through the relay: the request goes, our FIN follows,
# the whole answer still comes back
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode("latin-1"))
EOF
)
	expect_contains "... a half-close relayed, the close-delimited answer whole" "$r" "until-close"
	r=$("$WORK/fwd" "$INST" api 'Dev' 2>&1)
	expect_contains "azds_forward_start refuses a bad space name" "$r" "each level must be"
	kill "$FWD_PID" && FWD_PID=
else
	bad "compiling a driver of cli/forward.c: $(head -5 "$WORK/fwd.cc.log")"
fi

# ---- the ingress outlives router processes
old=$(router_pid)
r=$(api POST /v1/router/restart)
expect_contains "restart-router" "$r" " 200"
new=$(router_pid)
[ "$new" != "$old" ] && ok "a new router ($new after $old)" || bad "restart-router kept pid $old"
expect_contains "after restart-router the ingress serves" "$(get alice.s.dev.api.localhost)" "pod=api-alice"
p=$(router_pid)
kill -9 "$p"
# sent at once: it waits in the ingress's backlog for the next router
r=$(get alice.s.dev.api.localhost / --max-time 20)
expect_contains "a request right after kill -9 of the router is answered" "$r" "pod=api-alice"
[ "$(router_pid)" != "$p" ] && ok "the supervisor started a new router" || bad "router pid unchanged after kill -9"

# ---- a controller restart keeps the ingress (taken back from the router's shim)
p=$(router_pid)
stop_ctl
expect_contains "controller down: the router still serves the ingress" "$(get dev.api.localhost)" "pod=api-dev"
start_ctl
expect_eq "controller back: the same router" "$(router_pid)" "$p"
expect_eq "... its ingress recovered" "$(ingress_field listening)" "True"
expect_contains "... and serving" "$(get alice.s.dev.api.localhost)" "pod=api-alice"

# ---- a port in use: a clear error naming it, the router without an ingress
Q=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(600)' "$Q" &
HOLD_PID=$!
for i in $(seq 1 100); do [ -n "$(ss -Hltn "sport = :$Q")" ] && break; sleep 0.05; done
stop_ctl
start_ctl --ingress-port "$Q"
expect_eq "port $Q taken: status says no ingress" "$(ingress_field listening)" "False"
expect_contains "... with an error naming the port" "$(ingress_field error)" "127.0.0.1:$Q: Address already in use"
expect_contains "... also in the controller's log" "$(cat "$WORK/controller.log")" "no local ingress: ingress 127.0.0.1:$Q"
r=$(curl -s --max-time 5 -H 'Host: dev.api.localhost' "http://127.0.0.1:$PORT/")
expect_eq "... and the old port no longer served (the router was replaced)" "$r" ""
r=$("$BIN/azds-router" --instance "$INST" --ingress "127.0.0.1:$Q" 2>&1)
expect_contains "a standalone router: --ingress on a taken port names it" "$r" "--ingress 127.0.0.1:$Q: Address already in use"
kill "$HOLD_PID" && HOLD_PID=
stop_ctl
start_ctl --ingress-port "$PORT"
expect_eq "back on port $PORT: listening" "$(ingress_field listening)" "True"
expect_contains "... and serving" "$(get alice.s.dev.api.localhost)" "pod=api-alice"
stop_ctl
start_ctl --ingress-port 0
expect_eq "--ingress-port 0: no ingress" "$(ingress_field port)" "0"
r=$(curl -s --max-time 5 -H 'Host: dev.api.localhost' "http://127.0.0.1:$PORT/")
expect_eq "... nothing on the old port" "$r" ""

# ---- a standalone router makes its own (last: it registers its own worker
# listeners with TC, over the supervised router's)
R=$(free_port)
"$BIN/azds-router" --instance "$INST" --netns "azds-$INST-node" --port 15002 --workers 2 \
	--ingress "127.0.0.1:$R" >"$WORK/solo.log" 2>&1 &
SOLO=$!
for i in $(seq 1 100); do [ -n "$(ss -Hltn "sport = :$R")" ] && break; sleep 0.05; done
r=$(curl -s --max-time 10 -H 'Host: alice.s.dev.api.localhost' "http://127.0.0.1:$R/")
expect_contains "azds-router --ingress ADDR:PORT serves the host scheme" "$r" "pod=api-alice space=dev/alice"
expect_contains "... with the route-as inserted" "$r" "route-as=alice "
kill "$SOLO"
wait "$SOLO"
expect_contains "... its ingress made in the host's namespace" "$(cat "$WORK/solo.log")" "local ingress on port $R"
r=$("$BIN/azds-router" --instance "$INST" --ingress 127.0.0.1:80x 2>&1)
expect_contains "--ingress with a bad port is refused" "$r" "must be an IPv4 ADDR:PORT"

api POST /v1/shutdown '{"all":true}' >/dev/null
finish
