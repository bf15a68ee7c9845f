#!/bin/bash
# SPDX-License-Identifier: MIT
# Header routing through eBPF steering and azds-router, with real pods.
# sk_msg redirection is on by default; with SOCKMAP=off the same checks run
# through the TCP stack only, with SOCKMAP=nopods the router's sends to pods
# go through the stack (sockmap-pods off).
INST=${AZDS_TEST_PREFIX:-}itroute
[ "${SOCKMAP:-on}" = off ] && INST=${AZDS_TEST_PREFIX:-}itrsock
[ "${SOCKMAP:-on}" = nopods ] && INST=${AZDS_TEST_PREFIX:-}itrpods
. "$(dirname "$0")/lib.sh"
setup_topology
if [ "${SOCKMAP:-on}" = off ]; then
	$CTL set sockmap off
	expect_contains "sockmap switch off" "$($CTL status)" "sockmap=off"
else
	expect_contains "sockmap on by default" "$($CTL status)" "sockmap=on"
	expect_contains "sockmap-pods on by default" "$($CTL status)" "sockmap-pods=on"
fi
if [ "${SOCKMAP:-on}" = nopods ]; then
	$CTL set sockmap-pods off
	expect_contains "sockmap-pods switched off" "$($CTL status)" "sockmap-pods=off"
fi

# --- route-as picks the most specific space, per request --------------------
r=$(probe web get api:80 /)
expect_contains "no header: dev's api answers" "$r" "pod=api-dev space=dev"
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "route-as alice: alice's api answers" "$r" "pod=api-alice space=dev/alice"
expect_contains "route-as header kept on the forwarded request" "$r" "route-as=alice"
r=$(probe web get api:80 / -H 'azds-route-as: dev/alice')
expect_contains "route-as by full path" "$r" "pod=api-alice"
r=$(probe web get web:80 / -H 'azds-route-as: alice/x')
expect_contains "dev/alice/x has no web: falls back two levels to dev" "$r" "pod=web space=dev"
r=$(probe web get api:80 / -H 'azds-route-as: alice/x')
expect_contains "dev/alice/x has no api: falls back one level to alice" "$r" "pod=api-alice"
r=$(probe client-x get api:80 /)
expect_contains "caller in dev/alice/x, no header: its own chain" "$r" "pod=api-alice"
r=$(probe client-x get web:80 /)
expect_contains "caller in dev/alice/x reaches dev's web (two levels)" "$r" "pod=web space=dev"
r=$(probe web get api:80 / -H 'azds-route-as: nobody')
expect_contains "unknown route-as space: caller's chain" "$r" "pod=api-dev"
r=$(probe web get api:80 / -H 'azds-route-as: x')
expect_contains "route-as x, the leaf of one space only (dev/alice/x, no api): alice's api" "$r" "pod=api-alice"

# --- deep chains: 8 levels by default, the 9th refused with a clear error -------
$CTL space add dev/l1 && $CTL space add dev/l1/l2 && $CTL space add dev/l1/l2/l3 &&
	$CTL space add dev/l1/l2/l3/l4 && $CTL space add dev/l1/l2/l3/l4/l5 &&
	$CTL space add dev/l1/l2/l3/l4/l5/l6 && $CTL space add dev/l1/l2/l3/l4/l5/l6/l7 ||
	bad "creating an 8-level chain"
r=$($CTL space add dev/l1/l2/l3/l4/l5/l6/l7/l8 2>&1)
expect_contains "9th level refused naming the limit" "$r" "the limit is 8"
r=$(probe web get web:80 / -H 'azds-route-as: dev/l1/l2/l3/l4/l5/l6/l7')
expect_contains "8-level chain falls back 7 levels to dev" "$r" "pod=web space=dev"
$CTL space add dev/l1/x || bad "creating dev/l1/x"
r=$(probe web get api:80 / -H 'azds-route-as: x')
expect_contains "route-as x with two spaces named x (dev/alice/x, dev/l1/x): neither, the caller's chain" "$r" "pod=api-dev"
$CTL space rm dev/l1/x || bad "removing dev/l1/x"
r=$($CTL space add 'Dev/Bad Name' 2>&1)
expect_contains "bad space name refused with the rule" "$r" "each level must be"
r=$($CTL space add nope/child 2>&1)
expect_contains "missing parent named" "$r" 'parent "nope" does not exist'
r=$($CTL space list)
expect_contains "refusals lost nothing" "$r" "dev/l1/l2/l3/l4/l5/l6/l7"

# --- W3C baggage -------------------------------------------------------------
r=$(probe web get api:80 / -H 'baggage: userId=7, azds-route-as=alice;p=1')
expect_contains "baggage azds-route-as=alice" "$r" "pod=api-alice"
r=$(probe web get api:80 / -H 'baggage: azds-route-as=dev%2Falice')
expect_contains "baggage value percent-decoded (dev%2Falice)" "$r" "pod=api-alice"
r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice' -H 'azds-route-as: dev')
expect_contains "header and baggage disagree: 400" "$r" "400 Bad Request"
expect_contains "the 400 names both values" "$r" 'header "dev" and baggage "alice"'
r=$(probe web get api:80 / -H 'baggage: azds-route-as=alice' -H 'azds-route-as: alice')
expect_contains "header and baggage agree: routed" "$r" "pod=api-alice"

# --- every hop: web calls api, propagating the header --------------------------
r=$(probe client-x get web:80 '/call?url=http://api/' -H 'azds-route-as: alice')
expect_contains "hop 1 served by dev's web" "$r" "pod=web space=dev"
expect_contains "hop 2 served by alice's api" "$r" "-> pod=api-alice"
r=$(probe client-x get web:80 '/call?url=http://api/' -H 'azds-route-as: dev')
expect_contains "route-as dev at every hop" "$r" "-> pod=api-dev"

# --- one keep-alive connection, alternating route-as --------------------------
r=$(in_pod web curl -sv http://api/ -H 'azds-route-as: alice' --next http://api/ --next http://api/ \
	-H 'azds-route-as: alice' --next http://api/ -H 'azds-route-as: dev' 2>&1)
pods=$(echo "$r" | grep -o 'pod=api-[a-z]*' | tr '\n' ' ')
expect_eq "keep-alive alternating route-as" "$pods" "pod=api-alice pod=api-dev pod=api-alice pod=api-dev "
expect_contains "one client connection reused" "$r" "Re-using existing connection"

# --- pipelining: answered in order ----------------------------------------
r=$(printf '%s' 'GET /p1 HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\nGET /p2 HTTP/1.1\r\nHost: api\r\n\r\nGET /p3 HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\nGET /p4 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n' |
	xargs -0 printf | in_pod web "$BIN/azds-probe" raw "$(vip api)" 2>&1)
order=$(echo "$r" | grep -o 'pod=api-[a-z]* space=[a-z/]* service=api method=GET path=/p[0-9]' |
	awk '{print $1 $5}' | tr '\n' ' ')
expect_eq "pipelined requests answered in order" "$order" \
	"pod=api-alicepath=/p1 pod=api-devpath=/p2 pod=api-alicepath=/p3 pod=api-devpath=/p4 "

# --- a client that pipelines and reads late: the router waits, then sends all ---
# 1,000 pipelined requests (about 250 KiB of answers) unread for a while: with
# sockmap the router stops at its bound on the client's redirected queue
# (AZDS_POD_RX_BYTES) and resumes once the client reads; without, the TCP
# window stops it. Either way every answer arrives, in order.
r=$(in_pod web python3 - "$(vip api)" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
reqs = b"".join(b"GET /late%d HTTP/1.1\r\nHost: api\r\nazds-route-as: alice\r\n\r\n" % i for i in range(1000))
s.sendall(reqs + b"GET /last HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
time.sleep(0.5)
data = b""
s.settimeout(20)
while True:
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    if not b:
        break
    data += b
paths = [l.split(b"path=")[1].split()[0] for l in data.split(b"\n") if b"path=/" in l]
ok = paths == [b"/late%d" % i for i in range(1000)] + [b"/last"]
print("answers=%d in-order=%s" % (data.count(b"HTTP/1.1 200"), ok))
EOF
)
expect_eq "1,000 pipelined requests read late: every answer, in order" "$r" "answers=1001 in-order=True"

# --- bodies: Content-Length, chunked, Expect: 100-continue -------------------
head -c 300000 /dev/urandom | base64 -w 0 >"$WORK/body"
sum=$(md5sum <"$WORK/body" | cut -d' ' -f1)
in_pod web curl -s -o "$WORK/echo1" http://api/echo -H 'azds-route-as: alice' --data-binary @"$WORK/body"
got=$(tail -n +2 "$WORK/echo1" | md5sum | cut -d' ' -f1)
expect_eq "POST body (Content-Length) arrives unchanged" "$got" "$sum"
in_pod web curl -s -o "$WORK/echo2" http://api/echo -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/body"
got=$(tail -n +2 "$WORK/echo2" | md5sum | cut -d' ' -f1)
expect_eq "chunked request body arrives unchanged" "$got" "$sum"
r=$(in_pod web curl -sv http://api/echo -H 'Expect: 100-continue' --data-binary @"$WORK/body" 2>&1 | grep -a -E '^< HTTP|pod=')
expect_contains "Expect: 100-continue passes the interim response" "$r" "HTTP/1.1 100 Continue"
expect_contains "Expect: 100-continue then the body is echoed" "$r" "body-bytes=400000"
r=$(probe web get api:80 /close -H 'azds-route-as: alice')
expect_contains "response delimited by the close relayed whole" "$r" "until-close"
expect_contains "close-delimited response from alice's api" "$r" "pod=api-alice"
r=$(probe web get api:80 '/bighead?kb=40')
expect_contains "a 40 KiB response head is relayed" "$r" "pod=api-dev"
r=$(probe web get api:80 '/bighead?kb=80')
expect_contains "a response head over 64 KiB is refused with 502" "$r" "HTTP/1.1 502"
expect_contains "the 502 says why" "$r" "head too large"
r=$(probe web get api:80 /stream -H 'azds-route-as: alice')
expect_contains "chunked response relayed from alice's api" "$r" "pod=api-alice"
expect_contains "chunked response relayed to its last chunk" "$r" "chunk 3 of 3"
r=$(in_pod web curl -sI http://api/ -H 'azds-route-as: alice')
expect_contains "HEAD answered" "$r" "X-Pod: api-alice"

# --- websocket upgrade: a byte tunnel both ways ---------------------------------
r=$(probe web ws api:80 /ws one two -H 'azds-route-as: alice')
expect_contains "websocket greeted by alice's api" "$r" "hello from api-alice"
expect_contains "websocket echoes" "$r" "two"
r=$(probe web ws api:80 /ws three)
expect_contains "websocket without header: dev's api" "$r" "hello from api-dev"

# --- h2c prior knowledge / non-HTTP bytes are tunnelled to the caller's chain ----
r=$(printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' | in_pod web "$BIN/azds-probe" raw "$(vip api)" 2>&1)
expect_contains "h2c preface tunnelled untouched to the backend (which refuses it)" "$r" "HTTP/1.1 505"
expect_contains "h2c tunnel reached dev's api" "$r" "X-Pod: api-dev"

# --- 502 / 503 name the chain ------------------------------------------------
$CTL service add dev/alice ghost --port 80 --target-port 8080 >/dev/null
vip=$($BIN/azds -i $INST list-uris --addresses | awk '$1 == "ghost" { sub("http://", "", $2); print $2 }')
r=$(probe web get "$vip" /)
expect_contains "service only in a child, no header: 502 naming the chain" "$r" "HTTP/1.1 502"
expect_contains "502 body names the chain" "$r" 'no service "ghost" in dev'
r=$(probe web get "$vip" / -H 'azds-route-as: alice')
expect_contains "declared but no pod: 503" "$r" "HTTP/1.1 503"
expect_contains "503 body names the chain" "$r" "dev/alice -> dev"

if [ "${SOCKMAP:-on}" != off ]; then
	r=$(counter msg_redirected)
	[ "${r:-0}" -gt 0 ] && ok "sk_msg redirected messages between local sockets ($r)" ||
		bad "sockmap on but no message was redirected"
	r=$(counter msg_to_pod)
	if [ "${SOCKMAP:-on}" != nopods ]; then
		[ "${r:-0}" -gt 0 ] && ok "sockmap-pods: the router's sends redirected to pods' sockets ($r)" ||
			bad "sockmap-pods on but none of the router's sends was redirected"
	else
		expect_eq "sockmap-pods off: none of the router's sends redirected" "${r:-0}" "0"
	fi
	$CTL set sockmap off
	before=$(counter msg_redirected)
	before_pod=$(counter msg_to_pod)
	r=$(probe web get api:80 / -H 'azds-route-as: alice')
	expect_contains "sockmap switched off at run time: still routed" "$r" "pod=api-alice"
	expect_eq "sockmap off: nothing redirected any more" "$(counter msg_redirected)" "$before"
	expect_eq "sockmap off: nothing redirected to pods any more" "$(counter msg_to_pod)" "$before_pod"
	$CTL start >/dev/null
	expect_contains "a controller restart keeps the run-time switch" "$($CTL status)" "sockmap=off"
	$CTL set sockmap on
else
	expect_eq "sockmap off: nothing redirected" "$(counter msg_redirected)" "0"
	expect_eq "sockmap off: nothing redirected to pods" "$(counter msg_to_pod)" "0"
fi

# --- a backend closes a kept-alive connection as the router reuses it ----------
# (podserver --drop-after 1 closes, unanswered, every second request on a
# connection): the request never ran, so the router sends it again, once
$CTL service add dev flaky --port 80 --target-port 8080 >/dev/null
$INIT add --pod flaky --space dev --service flaky >/dev/null
start_server flaky dev flaky --listen 0.0.0.0:8080 --drop-after 1
wait_ready client-x "$(pod_addr flaky):8080" http
r=$(in_pod web curl -s http://flaky/one --next http://flaky/two --next http://flaky/three 2>&1)
expect_eq "reused upstream closed under the router: retried, all answered" \
	"$(echo "$r" | grep -o 'path=/[a-z]*' | tr '\n' ' ')" "path=/one path=/two path=/three "

# --- a routing change is seen by the very next request (router cache) ---------
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "before the change: alice's api" "$r" "pod=api-alice"
$INIT del --pod api-alice
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "alice's pod gone: the next request falls back to dev" "$r" "pod=api-dev"
$CTL service rm dev/alice api
$CTL service add dev/alice api --port 80 --target-port 8080 >/dev/null
$INIT add --pod api-alice2 --space dev/alice --service api >/dev/null
start_server api-alice2 dev/alice api --listen 0.0.0.0:8080
wait_ready client-x "$(pod_addr api-alice2):8080" http
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "a new pod for alice: the next request reaches it" "$r" "pod=api-alice2"

# --- readers that splice: they never see a redirected queue ---------------------
# (sockmap-pods, on by default, redirects the router's sends into pods' sockets;
# splice() reads the receive queue alone.) A backend that answers an upgrade and
# then echoes with splice (as Go's io.Copy does), and a client that reads the
# upgraded stream with splice: the router's sends must reach both. Then a plain
# request whose answer is read with splice only. Pods of their own: the splice
# guard marks a pod that splices (its later sockets are stack-only).
$CTL service add dev sp --port 80 --target-port 8080 >/dev/null
$INIT add --pod sp-1 --space dev --service sp >/dev/null
$INIT add --pod spc --space dev >/dev/null
in_pod sp-1 python3 - >>"$WORK/sp-1.log" 2>&1 <<'EOF' &
import os, socket, threading
def serve(c):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            b = c.recv(65536)
            if not b:
                return
            buf += b
        head, buf = buf.split(b"\r\n\r\n", 1)
        if b"upgrade: x-echo" not in head.lower():
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplain\n")
            continue
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\n\r\n")
        r, w = os.pipe()
        while True:
            n = os.splice(c.fileno(), w, 65536)
            if n == 0:
                return
            while n:
                n -= os.splice(r, c.fileno(), n)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 8080))
l.listen(64)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
disown
wait_ready client-x "$(pod_addr sp-1):8080" http
splice_client() { # MODE: upgrade (20 echoes) or plain (one answer)
	in_pod spc python3 - "$(vip sp)" "$1" <<'EOF'
import os, socket, struct, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
# a splice that waits for ever would hang the suite: 10 s, then EAGAIN
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
r, w = os.pipe()
def spliced(want):
    got = b""
    try:
        while len(got) < want:
            n = os.splice(s.fileno(), w, 65536)
            if n == 0:
                break
            got += os.read(r, n)
    except OSError as e:
        print("splice: %s after %d bytes" % (e, len(got)))
    return got
if sys.argv[2] == "plain":
    # the first splice before anything is there (as Go's io.Copy starts)
    s.setblocking(False)
    try:
        os.splice(s.fileno(), w, 65536)
    except BlockingIOError:
        pass
    s.setblocking(True)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
    s.sendall(b"GET /plain HTTP/1.1\r\nHost: sp\r\n\r\n")
    got = spliced(len(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplain\n"))
    print("plain answer spliced: %s" % (got.endswith(b"\r\n\r\nplain\n") and got.startswith(b"HTTP/1.1 200")))
    sys.exit(0)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: sp\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(1)
    if not b:
        break
    head += b
good = 0
for i in range(20):
    msg = (b"ping-%d;" % i) * (1 + i * 50)
    s.sendall(msg)
    if spliced(len(msg)) == msg:
        good += 1
print("101=%s echoes spliced: %d of 20" % (b" 101 " in head, good))
EOF
}
r=$(splice_client plain)
expect_eq "a plain answer read with splice alone" "$r" "plain answer spliced: True"
r=$(splice_client upgrade)
expect_eq "an upgraded stream read and echoed with splice on both ends" "$r" "101=True echoes spliced: 20 of 20"
if [ "${SOCKMAP:-on}" != off ]; then
	r=$(counter splice_seen)
	[ "${r:-0}" -gt 0 ] && ok "the splice guard saw the pods splice ($r)" || bad "the splice guard saw no splice"
fi

finish
