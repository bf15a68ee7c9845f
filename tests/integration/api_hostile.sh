#!/bin/bash
# SPDX-License-Identifier: MIT
# The controller's API against hostile and careless clients, through the
# real daemon: 300 half-sent request heads (slowloris) neither lock others
# out for good nor stay open past the head timeout; the 503 at the
# connection limit is whole and ends in an EOF, not a reset; an idle
# connection makes room at the limit and is closed after the idle timeout;
# a %00 in the path or a query value is refused, a path too long is a 414;
# a followed log whose client went away leaves nothing behind (the next
# follow still waits), an ended pod's follow is answered at once;
# pipelined requests are answered in order; a client that never reads its
# answer is dropped while the daemon keeps serving. And the CLI: a connect
# error that is not "nobody listens" is told as it is, a pod's AGE counts.
# Time is judged only as "eventually, within a bound" (and "not answered
# within 1 s" where waiting is the point).
INST=${AZDS_TEST_PREFIX:-}apih
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds"
SOCK=/run/azds/$INST/api.sock
# an instance that never runs: its run directory is made to fail connect
# in ways other than "nobody listens"
FAKE=${AZDS_TEST_PREFIX:-}apihx

purge() {
	"$AZDS" -i "$INST" controller stop --all >/dev/null 2>&1
	"$BIN/azds-controller" -i "$INST" purge >/dev/null 2>&1
	rm -rf "/run/azds/$FAKE"
}
cleanup() {
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	purge
	rm -rf "$WORK"
}
purge

# az ARGS...: azds -i INST ARGS; sets RC, OUT and ERR
az() {
	"$AZDS" -i "$INST" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
	RC=$?
	OUT=$(cat "$WORK/out")
	ERR=$(cat "$WORK/err")
}

# api METHOD PATH: curl over the socket; sets CODE, BODY and CRC (curl's exit)
api() {
	CODE=$(curl -s --max-time 20 -o "$WORK/body" -w '%{http_code}' -X "$1" --unix-socket "$SOCK" "http://azds$2")
	CRC=$?
	BODY=$(cat "$WORK/body" 2>/dev/null)
}

# the raw-socket clients
cat >"$WORK/client.py" <<'EOF'
import json, os, select, socket, sys, time

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def req(path, method="GET", extra=""):
    return f"{method} {path} HTTP/1.1\r\nHost: azds\r\n{extra}\r\n".encode()

def parse(buf):
    """complete responses in buf: [(status, headers, body)], rest"""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        lines = buf[:end].decode("latin-1").split("\r\n")
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        if len(buf) < end + 4 + n:
            return out, buf
        out.append((int(lines[0].split()[1]), hdrs, buf[end + 4:end + 4 + n]))
        buf = buf[end + 4 + n:]

def readable(s, t):
    return bool(select.select([s], [], [], t)[0])

def hold(path, n, ready, done):
    """n connections with half a head each; report how each ended"""
    conns, bufs, state = [], {}, {}
    for i in range(n):
        s = connect(path)
        try:
            s.sendall(b"GET /v1/healthz HTTP/1.1\r\nHost: azds\r\n")
        except OSError:
            pass
        s.setblocking(False)
        conns.append(s)
        bufs[s] = b""
    open(ready, "w").close()
    deadline = time.time() + 30
    openset = set(conns)
    while openset and time.time() < deadline:
        r, _, _ = select.select(list(openset), [], [], 0.5)
        for s in r:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                state[s] = "reset"; openset.discard(s); continue
            except BlockingIOError:
                continue
            if d:
                bufs[s] += d
            else:
                state[s] = "eof"; openset.discard(s)
    statuses, bad_length = {}, 0
    for s in conns:
        resp, rest = parse(bufs[s])
        for st, h, b in resp:
            statuses[str(st)] = statuses.get(str(st), 0) + 1
        if rest:
            bad_length += 1
    # the sockets stay open until the shell is done with its checks
    t = time.time() + 60
    while not os.path.exists(done) and time.time() < t:
        time.sleep(0.1)
    print(json.dumps({"eof": sum(1 for v in state.values() if v == "eof"),
                      "reset": sum(1 for v in state.values() if v == "reset"),
                      "open": len(openset), "statuses": statuses, "bad_length": bad_length,
                      "msg503": next((b.decode() for s in conns for st, h, b in parse(bufs[s])[0] if st == 503), ""),
                      "msg408": next((b.decode() for s in conns for st, h, b in parse(bufs[s])[0] if st == 408), "")}))

def exchange(s, data, count):
    s.sendall(data)
    buf, resp = b"", []
    s.settimeout(20)
    while len(resp) < count:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        resp, _ = parse(buf)
    return resp

def idle(path, n):
    """n kept-alive connections, each after one request; one more connection"""
    conns = []
    for i in range(n):
        s = connect(path)
        r = exchange(s, req("/v1/healthz"), 1)
        assert r and r[0][0] == 200, r
        conns.append(s)
    s = connect(path)
    r = exchange(s, req("/v1/healthz"), 1)
    status = r[0][0] if r else 0
    def closed(c):
        c.setblocking(False)
        try:
            return c.recv(1) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
    print(json.dumps({"status": status, "oldest_closed": closed(conns[0]), "second_open": not closed(conns[1])}))

def idle_one(path, bound):
    """one kept-alive connection after a request: closed by the server within bound s?"""
    s = connect(path)
    r = exchange(s, req("/v1/healthz"), 1)
    assert r and r[0][0] == 200, r
    if readable(s, bound):
        try:
            print("closed" if s.recv(1) == b"" else "data")
        except ConnectionResetError:
            print("reset")
    else:
        print("open")

def follow(path, pod, offset, gap):
    """a follow whose client leaves after 1 s; after gap s, another follow"""
    target = f"/v1/pods/{pod}/logs?offset={offset}&follow=true"
    res = []
    for i in range(2):
        if i:
            time.sleep(gap)
        s = connect(path)
        s.sendall(req(target))
        res.append("answered" if readable(s, 1.0) else "parked")
        s.close()
    print(" ".join(res))

def pipeline(path):
    s = connect(path)
    data = (req("/v1/healthz") + req("/v1/pods/quiet%00x", "DELETE") + req("/v1/spaces/default") +
            req("/v1/pods/nope", extra="Connection: close\r\n"))
    r = exchange(s, data, 4)
    print(" ".join(f"{st}:{json.loads(b).get('error', json.loads(b).get('name', json.loads(b).get('status', '?')))}"
                   for st, h, b in r))

def noread(path, target, count):
    """count pipelined requests whose answers are never read: dropped within 30 s?"""
    s = connect(path)
    s.sendall(req(target) * count)
    p = select.poll()
    p.register(s, 0)  # POLLHUP is always reported
    t = time.time() + 30
    while time.time() < t:
        if p.poll(500):
            print("dropped"); return
    print("held")

def fill_backlog(path):
    """a listener whose backlog is full: connect fails with EAGAIN"""
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind(path)
    l.listen(0)
    held = []
    for i in range(8):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
            held.append(c)
        except BlockingIOError:
            break
    print("full", flush=True)
    sys.stdin.read()  # until the shell is done

cmd = sys.argv[1]
a = sys.argv[2:]
if cmd == "hold": hold(a[0], int(a[1]), a[2], a[3])
elif cmd == "idle": idle(a[0], int(a[1]))
elif cmd == "idle_one": idle_one(a[0], float(a[1]))
elif cmd == "follow": follow(a[0], a[1], a[2], float(a[3]))
elif cmd == "pipeline": pipeline(a[0])
elif cmd == "noread": noread(a[0], a[1], int(a[2]))
elif cmd == "fill_backlog": fill_backlog(a[0])
EOF
PY="python3 $WORK/client.py"

# ---- the CLI's connect errors, without a controller -------------------------

mkdir -p /run/azds
touch "/run/azds/$FAKE" # a file where the run directory should be
"$AZDS" -i "$FAKE" space list </dev/null >/dev/null 2>"$WORK/err"
expect_eq "connect: a path that is not a directory is told as it is" "$(cat "$WORK/err")" \
	"azds: the controller's API (/run/azds/$FAKE/api.sock): $(python3 -c 'import os,errno; print(os.strerror(errno.ENOTDIR))')"
rm -f "/run/azds/$FAKE"
mkdir -p "/run/azds/$FAKE"
coproc FILL { $PY fill_backlog "/run/azds/$FAKE/api.sock"; }
read -r -t 10 line <&"${FILL[0]}"
expect_eq "connect: the backlog is full" "$line" full
"$AZDS" -i "$FAKE" space list </dev/null >/dev/null 2>"$WORK/err"
expect_eq "connect: a full backlog is not 'not running'" "$(cat "$WORK/err")" \
	"azds: the controller's API (/run/azds/$FAKE/api.sock): $(python3 -c 'import os,errno; print(os.strerror(errno.EAGAIN))')"
eval "exec ${FILL[1]}>&-"
wait "$FILL_PID" 2>/dev/null
rm -rf "/run/azds/$FAKE"
"$AZDS" -i "$FAKE" space list </dev/null >/dev/null 2>"$WORK/err"
expect_contains "connect: no socket at all is 'not running'" "$(cat "$WORK/err")" \
	"the controller of instance \"$FAKE\" is not running; start it with: azds -i $FAKE controller start"

# ---- the daemon --------------------------------------------------------------

az controller start --no-router
[ "$RC" = 0 ] || { bad "controller start: $ERR"; finish; exit 1; }
az pod run quiet -n default
[ "$RC" = 0 ] || bad "a bare pod: $ERR"
az pod run followed -n default
[ "$RC" = 0 ] || bad "a bare pod to follow: $ERR"
az pod run ager -n default -- /bin/sleep 100000
[ "$RC" = 0 ] || bad "a pod with a process: $ERR"

# ---- the path and the query ----------------------------------------------------

api DELETE "/v1/pods/quiet%00x"
expect_eq "a %00 in the path: 400" "$CODE" 400
expect_contains "a %00 in the path: the error names it" "$BODY" "NUL byte (%00)"
api GET /v1/pods/quiet
expect_eq "a %00 in the path: pod quiet is still there" "$CODE" 200
api GET "/v1/pods?space=default%00x"
expect_eq "a %00 in a query value: 400" "$CODE" 400
expect_contains "a %00 in a query value: the error names the key" "$BODY" 'query value of \"space\" has a NUL byte'
long=$(head -c 1100 /dev/zero | tr '\0' a)
api GET "/v1/pods/$long"
expect_eq "a path over the buffer: 414" "$CODE" 414
expect_contains "a path over the buffer: path too long" "$BODY" "path too long"
api GET "/v1/pods/$(head -c 400 /dev/zero | tr '\0' a | sed 's/a/%61/g')"
expect_eq "a path that is long only percent-encoded is decoded first (404, not 414)" "$CODE" 404

# a path the API serves, with another method: 405 naming the method it takes
for mp in "GET /v1/shutdown POST" "POST /v1/status GET" "GET /v1/switches/steer PUT" \
	"GET /v1/router/restart POST" "POST /v1/pods/p1/logs GET"; do
	set -- $mp
	api "$1" "$2"
	expect_eq "$1 $2: 405" "$CODE" 405
	expect_contains "$1 $2: only $3" "$BODY" "only $3"
done
api GET /v1/nosuch
expect_eq "a path the API does not serve: 404" "$CODE" 404
r=$(python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /v1/healthz HTTP/2.0\r\nHost: azds\r\n\r\n")
print(s.recv(200).split(b"\r\n")[0].decode())' "$SOCK")
expect_eq "an HTTP version it does not speak: 505 with its own reason phrase" "$r" "HTTP/1.1 505 HTTP Version Not Supported"

# ---- pipelining ------------------------------------------------------------------

expect_eq "pipelined requests: four answers in order" "$($PY pipeline "$SOCK")" \
	"200:ok 400:path has a NUL byte (%00) 200:default 404:pod \"nope\" does not exist"

# ---- slowloris: 300 half-sent heads ----------------------------------------------

rm -f "$WORK/ready" "$WORK/done"
$PY hold "$SOCK" 300 "$WORK/ready" "$WORK/done" >"$WORK/hold.json" 2>"$WORK/hold.err" &
HOLD=$!
for i in $(seq 1 300); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
[ -e "$WORK/ready" ] && ok "slowloris: 300 connections with half a head each" || bad "slowloris: the clients never got going: $(cat "$WORK/hold.err")"
# at once: every slot has a request in progress, all of one client's; a
# newcomer (another process) is served, the oldest unfinished request of
# the client holding them all gives way (that client's own extra
# connections still read a 503: below)
api GET /v1/healthz
expect_eq "at the limit, held by one client: another is served at once" "$CODE" 200
"$AZDS" -i "$INST" space list </dev/null >/dev/null 2>&1
expect_eq "... and so is the CLI" "$?" 0
touch "$WORK/done"
wait "$HOLD"
H=$(cat "$WORK/hold.json")
expect_eq "slowloris: every held connection was closed by the server" "$(printf '%s' "$H" | jq -r '.eof + .reset')" 300
expect_eq "slowloris: none of them with a reset" "$(printf '%s' "$H" | jq -r .reset)" 0
expect_eq "slowloris: every answer's Content-Length was right" "$(printf '%s' "$H" | jq -r .bad_length)" 0
expect_contains "slowloris: the ones past the limit read a 503" "$(printf '%s' "$H" | jq -r .msg503)" \
	"too many API connections (limit 256)"
expect_contains "slowloris: the ones holding a slot read a 408" "$(printf '%s' "$H" | jq -r .msg408)" \
	"the request did not arrive within 10 s"

# the same held by another uid (a local user in the socket's group): root is
# served at once, the uid holding them all gives way. Counted per uid in one
# pass (a flood of accepts at the limit used to cost the square of the
# connections each, and held the daemon's CPU)
chmod 0755 "$WORK" && chmod 0644 "$WORK/client.py" && mkdir -p "$WORK/nobody" && chown 65534 "$WORK/nobody"
rm -f "$WORK/nobody/ready" "$WORK/nobody/done"
setpriv --reuid=65534 --regid=65534 --groups="$(stat -c %g "$SOCK")" /usr/bin/python3 "$WORK/client.py" hold \
	"$SOCK" 300 "$WORK/nobody/ready" "$WORK/nobody/done" >"$WORK/hold2.json" 2>"$WORK/hold2.err" &
HOLD=$!
for i in $(seq 1 300); do [ -e "$WORK/nobody/ready" ] && break; sleep 0.1; done
[ -e "$WORK/nobody/ready" ] || bad "slowloris as uid 65534: the clients never got going: $(tail -3 "$WORK/hold2.err")"
api GET /v1/healthz
expect_eq "at the limit, held by another uid: root is served at once" "$CODE" 200
"$AZDS" -i "$INST" space list </dev/null >/dev/null 2>&1
expect_eq "... and so is root's CLI" "$?" 0
touch "$WORK/nobody/done"
wait "$HOLD"
expect_eq "slowloris as uid 65534: every held connection was closed by the server" \
	"$(jq -r '.eof + .reset' "$WORK/hold2.json")" 300

# ---- idle connections make room at the limit ---------------------------------------

I=$($PY idle "$SOCK" 256)
expect_eq "at the limit with idle connections: a newcomer is served" "$(printf '%s' "$I" | jq -r .status)" 200
expect_eq "at the limit: the connection idle the longest was closed" "$(printf '%s' "$I" | jq -r .oldest_closed)" true
expect_eq "at the limit: only that one" "$(printf '%s' "$I" | jq -r .second_open)" true
# one idle connection from now on: the server closes it (60 s), judged at the end
$PY idle_one "$SOCK" 90 >"$WORK/idle.out" 2>&1 &
IDLE=$!

# ---- a followed log whose client goes away --------------------------------------------

off=$(curl -s -D - -o /dev/null --unix-socket "$SOCK" "http://azds/v1/pods/followed/logs" | tr -d '\r' |
	awk -F': ' 'tolower($1) == "x-azds-log-offset" { print $2 }')
# the second follow starts after the first one's deadline would have passed
expect_eq "follow: a client that left leaves nothing behind (the next follow waits)" \
	"$($PY follow "$SOCK" followed "${off:-0}" 10)" "parked parked"
# an ended pod's follow is answered at once (not after the 10 s wait)
az pod run done -n default --restart Never -- /bin/true
for i in $(seq 1 100); do
	az pod list -n default -o json
	[ "$(printf '%s' "$OUT" | jq -r '.items[] | select(.name == "done") | .status.phase')" = Succeeded ] && break
	sleep 0.1
done
off=$(curl -s -D - -o /dev/null --unix-socket "$SOCK" "http://azds/v1/pods/done/logs" | tr -d '\r' |
	awk -F': ' 'tolower($1) == "x-azds-log-offset" { print $2 }')
CODE=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" \
	"http://azds/v1/pods/done/logs?offset=${off:-0}&follow=true")
expect_eq "follow: an ended pod's follow is answered at once" "$CODE" 200

# ---- a client that never reads its answer ---------------------------------------------

az pod run big -n default -- /bin/sh -c 'head -c 600000 /dev/zero | tr "\000" x; exec sleep 100000'
for i in $(seq 1 100); do
	[ "$(curl -s --unix-socket "$SOCK" "http://azds/v1/pods/big/logs" | wc -c)" -ge 262144 ] && break
	sleep 0.1
done
expect_eq "a client that never reads 20 answers of 256 KiB is dropped within 30 s" \
	"$($PY noread "$SOCK" /v1/pods/big/logs 20)" dropped
az space list
expect_eq "and the daemon keeps serving" "$RC" 0

# ---- the CLI: a pod's AGE ------------------------------------------------------------

sleep 2.2 # a lower bound on the age: the pod started before this
az pod list -n default
age=$(printf '%s\n' "$OUT" | awk '$1 == "NAME" { for (i = 1; i <= NF; i++) if ($i == "AGE") c = i } $1 == "ager" { print $c }')
case "$age" in
[0-9]*s) [ "${age%s}" -ge 2 ] && ok "pod list: AGE counts ($age)" || bad "pod list: AGE [$age], the pod is older than 2 s" ;;
[0-9]*[mhd]) ok "pod list: AGE counts ($age)" ;;
*) bad "pod list: AGE [$age] (from $OUT)" ;;
esac

# ---- the idle timeout ------------------------------------------------------------------

wait "$IDLE"
expect_eq "an idle kept-alive connection is closed by the server (within 90 s)" "$(cat "$WORK/idle.out")" closed

finish
