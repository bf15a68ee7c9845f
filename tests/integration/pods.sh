#!/bin/bash
# SPDX-License-Identifier: MIT
# A pod's own plumbing: it cannot send with another pod's address, its
# processes die before its network goes, and an add that hits a limit
# leaves nothing of the pod behind.
INST=${AZDS_TEST_PREFIX:-}itpods
. "$(dirname "$0")/lib.sh"
NODE=azds-$INST-node
DOOMED=
# processes the test started in pods die with it even if azds failed to end them
trap 'kill -9 $DOOMED 2>/dev/null; cleanup' EXIT
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

# veth_of ADDR: the node end of a pod's veth (azp + the address's low 16 bits)
veth_of() {
	local IFS=.
	set -- $1
	printf 'azp%02x%02x' "$3" "$4"
}

# An `ip` first in PATH: whenever azds removes a link or a namespace, it
# records whether the cgroup $SHIM_CG still held a process at that moment
# (the kernel's own "populated" flag) and which of $SHIM_PIDS still ran.
# The order is observed at the exact moment of each removal, not raced.
REAL_IP=$(command -v ip)
mkdir -p "$WORK/shim"
cat >"$WORK/shim/ip" <<EOF
#!/bin/bash
case "\$*" in
*"link del"* | *"netns del"*)
	pop=\$(awk '\$1 == "populated" { print \$2 }' "\$SHIM_CG/cgroup.events" 2>/dev/null)
	live=
	for p in \$SHIM_PIDS; do
		case "\$(awk '{ print \$3 }' /proc/\$p/stat 2>/dev/null)" in "" | Z | X) ;; *) live="\$live \$p" ;; esac
	done
	echo "ip \$* populated=\${pop:-gone} live=\${live:-none}" >>"\$SHIM_LOG" ;;
esac
exec $REAL_IP "\$@"
EOF
chmod +x "$WORK/shim/ip"

# start_doomed POD: in POD a process, a process tree, a process in a child
# cgroup and a link monitor (which would print eth0's removal if it ran
# then); sets DOOMED to the pids the test started
start_doomed() {
	local pod=$1 cg="$CGROOT/azds-$INST/$1" i
	mkdir -p "$cg/sub"
	# $INIT directly, not in_pod: $! is then the pod's process itself
	# (azds-init and ip netns exec exec in place)
	$INIT exec --pod "$pod" -- sleep 1000 >/dev/null 2>&1 &
	DOOMED="$DOOMED $!"
	$INIT exec --pod "$pod" -- bash -c 'sleep 1000 & sleep 1000 & wait' >/dev/null 2>&1 &
	DOOMED="$DOOMED $!"
	$INIT exec --pod "$pod" -- sleep 1001 >/dev/null 2>&1 &
	sub=$!
	DOOMED="$DOOMED $sub"
	$INIT exec --pod "$pod" -- ip monitor link >"$WORK/$pod.mon" 2>&1 &
	DOOMED="$DOOMED $!"
	disown -a # their deaths are expected: no job reports
	for i in $(seq 1 200); do
		# once it runs sleep it has joined the pod: then into the child cgroup
		[ "$(cat /proc/$sub/comm 2>/dev/null)" = sleep ] && ! grep -qs . "$cg/sub/cgroup.procs" &&
			echo "$sub" >"$cg/sub/cgroup.procs"
		# a link change the monitor prints once it listens
		in_pod "$pod" ip link set lo mtu $((60000 + i))
		[ "$(wc -l <"$cg/cgroup.procs")" -ge 5 ] && grep -qs . "$cg/sub/cgroup.procs" &&
			grep -qs "lo: .*mtu 6" "$WORK/$pod.mon" && return 0
		sleep 0.05
	done
	echo "processes in $pod never started" >&2
	return 1
}

# all_dead PID...: none of them runs (gone, or a zombie awaiting its parent)
all_dead() {
	local p
	for p in "$@"; do
		case "$(awk '{ print $3 }' /proc/$p/stat 2>/dev/null)" in "" | Z | X) ;; *) return 1 ;; esac
	done
}

# check_order NAME LOG: every removal found the cgroup empty and no process running
check_order() {
	if [ -s "$2" ] && ! grep -v "populated=[0g].* live=none" "$2" >/dev/null; then
		ok "$1"
	else
		bad "$1: $(cat "$2" 2>/dev/null)"
	fi
}

# snapshot INSTANCE: what azds makes for pods, to compare before and after a failed add
snapshot() {
	ip netns list | awk '{ print $1 }' | grep "^azds-$1-" | sort
	ip -n "azds-$1-node" -o link show | awk -F': ' '{ print $2 }' | sort
	tc -n "azds-$1-node" qdisc show | grep clsact | sort
	find "$CGROOT/azds-$1" -type d | sort
	ls /etc/netns 2>/dev/null | grep "^azds-$1-" | sort
	"$BIN/azds-controller" -i "$1" pod list | sort
}

# add_fails NAME INSTANCE EXPECTED-ERROR ADD-ARGS...: the add fails with
# that error and leaves nothing of the pod behind
add_fails() {
	local name=$1 inst=$2 want=$3 r left
	shift 3
	snapshot "$inst" >"$WORK/before"
	if r=$("$BIN/azds-init" -i "$inst" add "$@" 2>&1); then
		bad "$name: add succeeded: $r"
	else
		expect_contains "$name: a clear error" "$r" "$want"
	fi
	if left=$(snapshot "$inst" | diff "$WORK/before" -); then
		ok "$name: no netns, veth, TC qdisc, cgroup, resolv.conf or registration left"
	else
		bad "$name: left behind: $left"
	fi
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

# --- deleting a pod: every process of it dies before its network goes --------------
$INIT add --pod doomed --space dev >/dev/null || bad "add pod doomed"
DVETH=$(veth_of "$(pod_addr doomed)")
DCG=$CGROOT/azds-$INST/doomed
start_doomed doomed || bad "processes started in pod doomed"
expect_eq "pod doomed's cgroup is populated" "$(awk '$1 == "populated" { print $2 }' "$DCG/cgroup.events")" "1"
rm -f "$WORK/del.log"
SHIM_CG=$DCG SHIM_PIDS="$DOOMED" SHIM_LOG=$WORK/del.log PATH="$WORK/shim:$PATH" $INIT del --pod doomed ||
	bad "azds-init del --pod doomed"
expect_contains "del removed the pod's veth" "$(cat "$WORK/del.log" 2>/dev/null)" "link del $DVETH"
check_order "del: each link and namespace went only after every process of the pod had died" "$WORK/del.log"
if all_dead $DOOMED; then ok "del: the pod's processes are dead"; else bad "del: pod processes still run"; fi
expect_not_contains "del: the pod's own link monitor never saw eth0 go" "$(cat "$WORK/doomed.mon")" "Deleted"
if ip -n "$NODE" link show "$DVETH" >/dev/null 2>&1; then bad "del: veth $DVETH left"; else ok "del: veth removed"; fi
expect_eq "del: netns removed" "$(ip netns list | grep -c "azds-$INST-p-doomed")" "0"
if [ -e "$DCG" ]; then bad "del: cgroup $DCG left"; else ok "del: cgroup (and its child) removed"; fi

# --- a full backends list: the add fails and leaves nothing behind ------------------
$CTL service add dev many --port 81 --target-port 8080 || bad "service add many"
for i in $(seq 1 32); do
	$INIT add --pod "m$i" --space dev --service many >/dev/null || bad "add backend m$i of 32"
done
add_fails "33rd backend of one service" "$INST" "already has 32 backends" --pod m33 --space dev --service many
# a failure after the plumbing exists (resolv.conf cannot be written: a
# file stands where its directory goes) is undone as well
touch "/etc/netns/azds-$INST-p-late"
add_fails "add failing after its network was made" "$INST" "resolv.conf" --pod late --space dev
rm -f "/etc/netns/azds-$INST-p-late"
r=$($INIT add --pod late --space dev --service api)
expect_eq "after the failures the next add works" "$r" "$(pod_addr late)"

# --- stop: every pod's processes die before any namespace or veth goes ------------
start_doomed web || bad "processes started in pod web"
rm -f "$WORK/stop.log"
SHIM_CG=$CGROOT/azds-$INST SHIM_PIDS="$DOOMED" SHIM_LOG=$WORK/stop.log PATH="$WORK/shim:$PATH" $CTL stop >/dev/null ||
	bad "azds-controller stop"
expect_contains "stop removed the pods' namespaces" "$(cat "$WORK/stop.log" 2>/dev/null)" "netns del azds-$INST-p-web"
check_order "stop: each namespace went only after every process of every pod had died" "$WORK/stop.log"
if all_dead $DOOMED; then ok "stop: the pods' processes are dead"; else bad "stop: pod processes still run"; fi
if [ -e "$CGROOT/azds-$INST" ]; then bad "stop: cgroups left"; else ok "stop: no cgroup left (child cgroups included)"; fi

# --- a full pods map: the add fails and leaves nothing behind ---------------------
INST2=${AZDS_TEST_PREFIX:-}itpodsmall
CTL2="$BIN/azds-controller -i $INST2"
trap 'kill -9 $DOOMED 2>/dev/null; $CTL2 stop >/dev/null 2>&1; cleanup' EXIT
$CTL2 stop >/dev/null 2>&1 # leftovers of a crashed run
$CTL2 start --max-pods 2 --no-router >"$WORK/start2.log" 2>&1 || bad "start with --max-pods 2: $(cat "$WORK/start2.log")"
$CTL2 space add dev || bad "space add in $INST2"
"$BIN/azds-init" -i "$INST2" add --pod p1 --space dev >/dev/null || bad "add pod 1 of 2"
"$BIN/azds-init" -i "$INST2" add --pod p2 --space dev >/dev/null || bad "add pod 2 of 2"
add_fails "3rd pod in a pods map of 2" "$INST2" "the pods map is full (limit 2," --pod p3 --space dev
$CTL2 stop >/dev/null || bad "stop $INST2"

finish
