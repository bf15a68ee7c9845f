#!/bin/bash
# SPDX-License-Identifier: MIT
# A pod's own plumbing: it cannot send with another pod's address, its
# processes die before its network goes, and an add that hits a limit
# leaves nothing of the pod behind.
INST=${AZDS_TEST_PREFIX:-}itpods
. "$(dirname "$0")/lib.sh"
NODE=azds-$INST-node
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)

# Small socket tools the test needs and azds-probe has no reason to have:
# a raw-socket sniffer (what a namespace's stack receives, before any
# accept), a connect from a chosen source address, and a UDP listener
# that reports each datagram's peer.
cat >"$WORK/net.py" <<'EOF'
import os, select, socket, struct, sys

def loop(socks, stop, handle):
    # until STOP exists, then drain what already arrived
    while True:
        stopping = os.path.exists(stop)
        r, _, _ = select.select(socks, [], [], 0 if stopping else 0.05)
        if not r and stopping:
            return
        for s in r:
            handle(s)

def sniff(out, stop, dst):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, p) for p in (socket.IPPROTO_TCP, socket.IPPROTO_UDP)]
    f = open(out, "w", buffering=1)
    open(out + ".ready", "w").close()
    def handle(s):
        p = s.recv(65535)
        ihl = (p[0] & 15) * 4
        src, d = socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
        sport, dport = struct.unpack("!HH", p[ihl:ihl + 4])
        if d == dst:
            f.write("%s src=%s dst=%s:%d\n" % ("tcp" if p[9] == 6 else "udp", src, d, dport))
    loop(socks, stop, handle)

def udpserve(addr, port, out, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    f = open(out, "w", buffering=1)
    open(out + ".ready", "w").close()
    def handle(s):
        data, peer = s.recvfrom(2048)
        f.write("from=%s msg=%s\n" % (peer[0], data.decode()))
    loop([s], stop, handle)

def tcp(src, dst, port, timeout):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(float(timeout))
    try:
        s.connect((dst, int(port)))
        print("connected")
    except OSError as e:
        print("not connected:", type(e).__name__)

def udp(src, dst, port, msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(msg.encode(), (dst, int(port)))

{"sniff": sniff, "udpserve": udpserve, "tcp": tcp, "udp": udp}[sys.argv[1]](*sys.argv[2:])
EOF
NET="python3 $WORK/net.py"

# wait_file FILE: readiness of a helper (bounded; never a pass/fail on time)
wait_file() {
	local i
	for i in $(seq 1 200); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	echo "$1 never appeared" >&2
	return 1
}

# node_mib NAME: a TcpExt counter of the node namespace's stack
node_mib() {
	ip netns exec "$NODE" awk -v n="$1" '$1 == "TcpExt:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "TcpExt:" { print $col[n] }' /proc/net/netstat
}

setup_topology

# --- a pod cannot send with another pod's address -----------------------------------
# client-x (dev/alice/x) gives its eth0 web's address (dev) as well, as
# anyone root in a pod's namespace can, and sends from it: straight to
# the api-dev pod, to the api service (whose SYN the TC program assigns
# to the router before routing), and a UDP datagram. Sniffers in api-dev
# and in the node namespace record every packet that reaches their
# stacks; then client-x's real address does the same, which also shows
# the sniffers were listening on the path.
WEB=$(pod_addr web)
ME=$(pod_addr client-x)
APIDEV=$(pod_addr api-dev)
API=$(vip api)
rm -f "$WORK"/stop "$WORK"/sniff.* "$WORK"/udp.*
in_pod api-dev $NET sniff "$WORK/sniff.pod" "$WORK/stop" "$APIDEV" &
sniff_pod=$!
ip netns exec "$NODE" $NET sniff "$WORK/sniff.node" "$WORK/stop" "${API%:*}" &
sniff_node=$!
in_pod api-dev $NET udpserve 0.0.0.0 5353 "$WORK/udp.log" "$WORK/stop" &
udpd=$!
wait_file "$WORK/sniff.pod.ready" && wait_file "$WORK/sniff.node.ready" && wait_file "$WORK/udp.log.ready" ||
	bad "sniffers started"
in_pod client-x ip addr add "$WEB/32" dev eth0

rpf=$(node_mib IPReversePathFilter)
steered=$(counter steered)
r=$(in_pod client-x $NET tcp "$WEB" "$APIDEV" 8080 1.5)
expect_contains "forged source: connect to a pod in another space fails" "$r" "not connected"
r=$(in_pod client-x $NET tcp "$WEB" "${API%:*}" "${API#*:}" 1.5)
expect_contains "forged source: connect to an HTTP service fails" "$r" "not connected"
if [ "$(counter steered)" -gt "$steered" ]; then
	ok "the forged SYN to the service was assigned to the router in TC (the drop comes after sk_assign)"
else
	bad "the forged SYN to the service never reached bpf_sk_assign: the test does not cover that path"
fi
in_pod client-x $NET udp "$WEB" "$APIDEV" 5353 forged
in_pod client-x $NET udp "$ME" "$APIDEV" 5353 real
r=$(probe client-x get "$APIDEV:8080" /)
expect_contains "real source: the pod is reached" "$r" "pod=api-dev"
r=$(probe client-x get "$API" /)
expect_contains "real source: the service is reached (as dev/alice/x)" "$r" "pod=api-alice"
if [ "$(node_mib IPReversePathFilter)" -ge "$((rpf + 2))" ]; then
	ok "forged packets counted as reverse-path drops in the node namespace"
else
	bad "reverse-path drops: $rpf before, $(node_mib IPReversePathFilter) after"
fi
touch "$WORK/stop"
wait "$sniff_pod" "$sniff_node" "$udpd"
in_pod client-x ip addr del "$WEB/32" dev eth0
p=$(cat "$WORK/sniff.pod")
n=$(cat "$WORK/sniff.node")
u=$(cat "$WORK/udp.log")
expect_contains "the pod's stack saw the real source" "$p" "tcp src=$ME dst=$APIDEV:8080"
expect_not_contains "the pod's stack never saw the forged source" "$p" "src=$WEB "
expect_contains "the node saw the real source's service connection" "$n" "tcp src=$ME dst=$API"
expect_not_contains "the node (router) never saw the forged source" "$n" "src=$WEB "
expect_contains "a UDP listener got the real source's datagram" "$u" "from=$ME msg=real"
expect_not_contains "a UDP listener never got the forged one" "$u" "msg=forged"

finish
