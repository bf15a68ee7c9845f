#!/bin/bash
# SPDX-License-Identifier: MIT
# azds-cni run for real, as a container runtime runs it, without a cluster:
# a test-made node netns (the plugin runs there, like in a node's own),
# pods as netns joined to it by veths on a bridge, a test instance's loaded
# data plane, prevResult as the bridge plugin gives it. Then the install
# library on a temporary CNI directory, find_if, and the node's cgroup
# programs. When the real bridge plugin is cached (tests/k8s/build.sh), the
# two run chained as libcni runs them. Root; leaves nothing behind.
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR}
BIN=$(cd "$BIN" && pwd)
INST=${AZDS_TEST_PREFIX:-}cni
CTL="${AZDS_CONTROLLER:-$BIN/azds-controller} -i $INST"
PLUGIN=$BIN/azds-cni
TOOL=$BIN/cni_tool
NODE=azds-t$INST-node           # not azds-$INST-...: the instance's own names stay its own
WORK=/tmp/azds-test-cni-$INST
RUN=/run/azds/$INST
PASS=0
FAIL=0

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$3], got [$2]"; fi; }
expect_contains() { case "$2" in *"$3"*) ok "$1" ;; *) bad "$1: expected to contain [$3], got [$2]" ;; esac; }
expect_not_contains() { case "$2" in *"$3"*) bad "$1: must not contain [$3], got [$2]" ;; *) ok "$1" ;; esac; }

cleanup() {
	local n
	for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $n in azds-t$INST-*) ip netns del "$n" 2>/dev/null ;; esac
	done
	[ -n "${CG:-}" ] && [ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
cleanup # an earlier crashed run's leftovers
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"

# ---- a test instance with its data plane, spaces dev and dev/alice --------
$CTL start --no-router >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; echo "FAIL cannot start instance $INST"; exit 1; }
$CTL space add dev >/dev/null && $CTL space add dev/alice >/dev/null || { echo "FAIL cannot add spaces"; exit 1; }
ALICE_ID=$($CTL space list | awk '$2 == "dev/alice" {print $1}')
# what the agent publishes: namespace alice is space dev/alice
mkdir -p "$RUN/k8s/spaces" && printf 'dev/alice\n' >"$RUN/k8s/spaces/alice"

# ---- the node: its own netns with a bridge, like a node's cni0 --------------
ip netns add "$NODE" || exit 1
# nsenter, not ip netns exec: that mounts a sysfs of the netns over /sys,
# hiding /sys/fs/bpf and the cgroups, which the node's own plugin sees
in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
in_node sysctl -q -w net.ipv4.conf.all.rp_filter=0
in_node ip link set lo up
in_node ip link add cni0 type bridge
in_node ip addr add 10.199.0.1/24 dev cni0
in_node ip link set cni0 up

# mkpod N [bridged]: netns azds-t<inst>-pN, eth0 = 10.199.0.N/24, host end
# vethtN routed (a /32 through it, as ptp and most routed CNIs make), or a
# port of cni0 (the bridge plugin's way)
mkpod() {
	local ns=azds-t$INST-p$1
	ip netns add "$ns" || return 1
	in_node ip link add "vetht$1" type veth peer name eth0 netns "$ns" || return 1
	if [ "${2:-}" = bridged ]; then
		in_node ip link set "vetht$1" master cni0 up
	else
		in_node ip link set "vetht$1" up
		in_node ip route replace "10.199.0.$1/32" dev "vetht$1"
	fi
	ip -n "$ns" addr add "10.199.0.$1/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
}

# prev N: prevResult as bridge 1.x gives it (bridge, host veth, sandbox eth0)
prev() {
	cat <<EOF
{"cniVersion": "1.0.0",
 "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:00:00:01"},
                {"name": "vetht$1", "mac": "aa:bb:cc:00:00:02"},
                {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "sandbox": "/run/netns/azds-t$INST-p$1"}],
 "ips": [{"interface": 2, "address": "10.199.0.$1/24", "gateway": "10.199.0.1"}],
 "routes": [{"dst": "0.0.0.0/0"}],
 "dns": {}}
EOF
}

# conf N [with-prev]: the network configuration the runtime feeds azds-cni
conf() {
	if [ "${2:-}" = prev ]; then
		jq -n --argjson p "$(prev "$1")" --arg i "$INST" \
			'{cniVersion: "1.0.0", name: "azds-test", type: "azds-cni", instance: $i, prevResult: $p}'
	else
		jq -n --arg i "$INST" '{cniVersion: "1.0.0", name: "azds-test", type: "azds-cni", instance: $i}'
	fi
}

# cni CMD N NAMESPACE POD [stdin file]: run the plugin in the node netns; output in $OUT, status in $RC
cni() {
	local input=${5:-/dev/stdin}
	OUT=$(in_node env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_CONTAINERID="ctr$2" \
		CNI_NETNS="/run/netns/azds-t$INST-p$2" CNI_IFNAME=eth0 CNI_PATH="$BIN" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4;K8S_POD_UID=uid-$2" \
		"$PLUGIN" <"$input" 2>"$WORK/stderr")
	RC=$?
}

tc_of() { in_node tc filter show dev "$1" ingress 2>&1; }
rpf_of() { in_node cat "/proc/sys/net/ipv4/conf/$1/rp_filter" 2>&1; }
pod_entry() { $CTL pod list | awk -v a="$1" '$2 == a {print $1, $3}'; }
pod_space_id() { # the space id in the pods map entry of an address
	local k
	k=$(echo "$1" | tr . ' ')
	bpftool -j map lookup pinned "/sys/fs/bpf/azds/$INST/pods" key $k 2>/dev/null |
		jq -r '.formatted.value.space // (.value[0:4] | map(tonumber) | .[0] + .[1]*256 + .[2]*65536 + .[3]*16777216)'
}
record() { cat "$RUN/k8s/cni/ctr$1.json" 2>/dev/null; }

# ---- VERSION, STATUS ---------------------------------------------------------
OUT=$(echo '{"cniVersion":"1.1.0"}' | CNI_COMMAND=VERSION "$PLUGIN")
expect_eq "VERSION lists the supported versions" "$(echo "$OUT" | jq -c .supportedVersions)" \
	'["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
OUT=$(jq -n --arg i "$INST" '{cniVersion: "1.1.0", name: "t", type: "azds-cni", instance: $i}' |
	CNI_COMMAND=STATUS "$PLUGIN" 2>/dev/null)
expect_eq "STATUS with the data plane loaded: success" "$?/$OUT" "0/"
OUT=$(jq -n --arg i "${INST}x" '{cniVersion: "1.1.0", name: "t", type: "azds-cni", instance: $i}' |
	CNI_COMMAND=STATUS "$PLUGIN" 2>/dev/null)
RC=$?
expect_eq "STATUS without a data plane: code 50" "$RC/$(echo "$OUT" | jq -r .code)" "1/50"
expect_contains "STATUS error says plugin not available" "$(echo "$OUT" | jq -r .msg)" "plugin not available"

# ---- ADD in a space namespace attaches ----------------------------------------
mkpod 2 || { echo "FAIL cannot make pod 2"; exit 1; }
conf 2 prev >"$WORK/c2.json"
cni ADD 2 alice web-1 "$WORK/c2.json"
expect_eq "ADD in space namespace alice succeeds" "$RC" 0
expect_eq "ADD outputs prevResult unchanged" "$(echo "$OUT" | jq -S -c .)" "$(prev 2 | jq -S -c .)"
expect_contains "azds_steer is on the host veth (tc)" "$(tc_of vetht2)" "azds_steer"
expect_not_contains "nothing on the bridge" "$(tc_of cni0)" "azds_steer"
expect_eq "strict rp_filter on the host veth" "$(rpf_of vetht2)" 1
expect_eq "pods map: 10.199.0.2 is web-1 in dev/alice" "$(pod_entry 10.199.0.2)" "web-1 dev/alice"
expect_eq "pods map entry has alice's space id" "$(pod_space_id 10.199.0.2)" "$ALICE_ID"
expect_eq "the record" "$(record 2 | jq -c '[.containerID,.namespace,.pod,.podUID,.netns,.ifname,.hostIf,.addr,.attached]')" \
	"[\"ctr2\",\"alice\",\"web-1\",\"uid-2\",\"/run/netns/azds-t$INST-p2\",\"eth0\",\"vetht2\",\"10.199.0.2\",true]"
PROG1=$(in_node tc -j filter show dev vetht2 ingress | jq -r '.[] | select(.options.bpf_name != null) | .options.prog.id')
cni ADD 2 alice web-1 "$WORK/c2.json"
PROG2=$(in_node tc -j filter show dev vetht2 ingress | jq -r '.[] | select(.options.bpf_name != null) | .options.prog.id')
expect_eq "ADD again: success, the same program, one filter" "$RC/$PROG2/$(tc_of vetht2 | grep -c azds_steer)" "0/$PROG1/1"

# a long pod name is kept, truncated to the map's 63 bytes
LONG=$(printf 'a%.0s' $(seq 1 70))
mkpod 5 && conf 5 prev >"$WORK/c5.json"
cni ADD 5 alice "$LONG" "$WORK/c5.json"
expect_eq "a 70-byte pod name is kept truncated to 63" "$RC/$(pod_entry 10.199.0.5)" "0/${LONG:0:63} dev/alice"

# ---- a bridged pod is steered on its bridge ------------------------------------
# (an assignment at a bridge port never reaches the local stack: kpod.c)
mkpod 11 bridged && conf 11 prev >"$WORK/c11.json"
cni ADD 11 alice web-11 "$WORK/c11.json"
expect_eq "bridged pod: ADD succeeds, entry written" "$RC/$(pod_entry 10.199.0.11)" "0/web-11 dev/alice"
expect_contains "bridged pod: azds_steer on its bridge cni0" "$(tc_of cni0)" "azds_steer"
expect_not_contains "bridged pod: nothing on the bridge port" "$(tc_of vetht11)" "azds_steer"
cni CHECK 11 alice web-11 "$WORK/c11.json"
expect_eq "bridged pod: CHECK succeeds" "$RC/$OUT" "0/"
cni DEL 11 alice web-11 "$WORK/c11.json"
expect_eq "bridged pod: DEL takes the entry" "$RC/$(pod_entry 10.199.0.11)" "0/"
expect_contains "bridged pod: DEL leaves the bridge's filter (the other pods' too)" "$(tc_of cni0)" "azds_steer"
in_node tc filter del dev cni0 ingress

# ---- CHECK ---------------------------------------------------------------------
cni CHECK 2 alice web-1 "$WORK/c2.json"
expect_eq "CHECK of an attached pod: success" "$RC/$OUT" "0/"
in_node tc filter del dev vetht2 ingress
cni CHECK 2 alice web-1 "$WORK/c2.json"
expect_eq "CHECK after the filter was removed fails (code 101)" "$RC/$(echo "$OUT" | jq -r .code)" "1/101"
expect_contains "CHECK names the interface" "$(echo "$OUT" | jq -r .msg)" "vetht2"
cni ADD 2 alice web-1 "$WORK/c2.json"
cni CHECK 2 alice web-1 "$WORK/c2.json"
expect_eq "ADD repairs it, CHECK passes again" "$RC" 0

# ---- ADD in a namespace that is not a space ---------------------------------------
mkpod 3 || { echo "FAIL cannot make pod 3"; exit 1; }
conf 3 prev >"$WORK/c3.json"
cni ADD 3 plain web-3 "$WORK/c3.json"
expect_eq "ADD in namespace plain succeeds, prevResult out" "$RC/$(echo "$OUT" | jq -S -c .)" "0/$(prev 3 | jq -S -c .)"
expect_not_contains "nothing attached to its veth" "$(tc_of vetht3)" "azds_steer"
expect_eq "its rp_filter untouched" "$(rpf_of vetht3)" 0
expect_eq "no pods map entry" "$(pod_entry 10.199.0.3)" ""
expect_eq "recorded, not attached" "$(record 3 | jq -c '[.namespace,.hostIf,.addr,.attached]')" '["plain","vetht3","10.199.0.3",false]'
cni CHECK 3 plain web-3 "$WORK/c3.json"
expect_eq "CHECK of a non-space pod: success" "$RC" 0

# ---- errors: malformed stdin, missing prevResult, versions ------------------------------
printf '{"cniVersion": "1.0.0", "instance": ' >"$WORK/bad.json"
cni ADD 4 alice x "$WORK/bad.json"
expect_eq "malformed stdin: code 6" "$RC/$(echo "$OUT" | jq -r .code)" "1/6"
expect_contains "malformed stdin: the error object has details" "$(echo "$OUT" | jq -r .details)" "end of file"
conf 4 >"$WORK/c4-noprev.json"
cni ADD 4 alice x "$WORK/c4-noprev.json"
expect_eq "ADD without prevResult: code 7" "$RC/$(echo "$OUT" | jq -r .code)" "1/7"
expect_contains "ADD without prevResult: says chained" "$(echo "$OUT" | jq -r .msg)" "chained plugin"
cni CHECK 4 alice x "$WORK/c4-noprev.json"
expect_eq "CHECK without prevResult: code 7" "$RC/$(echo "$OUT" | jq -r .code)" "1/7"
jq '.cniVersion = "0.2.0"' "$WORK/c2.json" >"$WORK/v020.json"
cni ADD 2 alice web-1 "$WORK/v020.json"
expect_eq "unsupported cniVersion: code 1" "$RC/$(echo "$OUT" | jq -r .code)" "1/1"
jq 'del(.instance)' "$WORK/c2.json" >"$WORK/noinst.json"
cni ADD 2 alice web-1 "$WORK/noinst.json"
expect_eq "no instance: code 7, named" "$RC/$(echo "$OUT" | jq -r .code)/$(echo "$OUT" | jq -r .msg | grep -c instance)" "1/7/1"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$WORK/huge.json"
cni ADD 2 alice web-1 "$WORK/huge.json"
expect_eq "stdin over 1 MiB: code 6" "$RC/$(echo "$OUT" | jq -r .code)" "1/6"
OUT=$(CNI_COMMAND= "$PLUGIN" </dev/null 2>/dev/null)
expect_eq "no CNI_COMMAND: code 4" "$(echo "$OUT" | jq -r .code)" 4

# ---- DEL ---------------------------------------------------------------------------
cni DEL 2 alice web-1 "$WORK/c2.json"
expect_eq "DEL succeeds" "$RC/$OUT" "0/"
expect_not_contains "DEL: filter gone" "$(tc_of vetht2)" "azds_steer"
expect_eq "DEL: pods map entry gone" "$(pod_entry 10.199.0.2)" ""
expect_eq "DEL: record gone" "$(record 2)" ""
cni DEL 2 alice web-1 "$WORK/c2.json"
expect_eq "DEL twice succeeds" "$RC/$OUT" "0/"
conf 2 >"$WORK/c2-noprev.json"
cni DEL 2 alice web-1 "$WORK/c2-noprev.json"
expect_eq "DEL with no record and no prevResult succeeds" "$RC/$OUT" "0/"
cni DEL 9 alice never "$WORK/c2-noprev.json"
expect_eq "DEL of a container never added succeeds" "$RC" 0
# the namespace became a space after ADD and the agent attached the pod: DEL undoes it all the same
in_node "$TOOL" attach "$INST" vetht3 10.199.0.3 dev/alice web-3
expect_eq "the agent's attach of pod 3" "$?/$(pod_entry 10.199.0.3)/$(tc_of vetht3 | grep -c azds_steer)" "0/web-3 dev/alice/1"
cni DEL 3 plain web-3 "$WORK/c3.json"
expect_eq "DEL of the pod recorded unattached: success, record, entry and filter gone" \
	"$RC/$(record 3)/$(pod_entry 10.199.0.3)/$(tc_of vetht3 | grep -c azds_steer)" "0///0"
cni ADD 3 plain web-3 "$WORK/c3.json" # for find_if below

# loose rp_filter on the node: refused, nothing left attached
in_node sysctl -q -w net.ipv4.conf.all.rp_filter=2
cni ADD 2 alice web-1 "$WORK/c2.json"
expect_eq "ADD with all.rp_filter=2: code 100" "$RC/$(echo "$OUT" | jq -r .code)" "1/100"
expect_contains "naming the sysctl" "$(echo "$OUT" | jq -r .details)" "net.ipv4.conf.all.rp_filter is 2"
expect_eq "and nothing attached" "$(pod_entry 10.199.0.2)/$(tc_of vetht2 | grep -c azds_steer)" "/0"
in_node sysctl -q -w net.ipv4.conf.all.rp_filter=0
cni DEL 2 alice web-1 "$WORK/c2.json"

# after a crash: the pod's netns and veth are gone before DEL
mkpod 6 && conf 6 prev >"$WORK/c6.json"
cni ADD 6 alice web-6 "$WORK/c6.json"
expect_eq "pod 6 attached" "$RC/$(pod_entry 10.199.0.6)" "0/web-6 dev/alice"
ip netns del "azds-t$INST-p6" # its veth pair goes with it
for i in $(seq 1 100); do in_node ip link show vetht6 >/dev/null 2>&1 || break; sleep 0.05; done
cni DEL 6 alice web-6 "$WORK/c6.json"
expect_eq "DEL after the netns and veth are gone succeeds" "$RC/$OUT" "0/"
expect_eq "and the pods map entry is gone" "$(pod_entry 10.199.0.6)" ""
cni DEL 6 alice web-6 "$WORK/c6.json"
expect_eq "and again" "$RC" 0

# DEL without a record (a crash before ADD wrote it) but with prevResult: only this pod's entry goes
cni ADD 5 alice "$LONG" "$WORK/c5.json" # (already attached: idempotent)
rm -f "$RUN/k8s/cni/ctr5.json"
cni DEL 5 alice other-pod "$WORK/c5.json"
expect_eq "DEL of another pod name at a recycled address keeps the entry" "$RC/$(pod_entry 10.199.0.5)" "0/${LONG:0:63} dev/alice"
cni DEL 5 alice "$LONG" "$WORK/c5.json"
expect_eq "DEL with prevResult, no record: entry and filter gone" \
	"$RC/$(pod_entry 10.199.0.5)/$(tc_of vetht5 | grep -c azds_steer)" "0//0"

# ---- find_if -----------------------------------------------------------------------
mkpod 7
expect_eq "find_if finds the host veth of 10.199.0.7" "$(in_node "$TOOL" find-if 10.199.0.7 2>&1)" vetht7
expect_eq "find_if finds the host veth of 10.199.0.3" "$(in_node "$TOOL" find-if 10.199.0.3 2>&1)" vetht3
OUT=$(in_node "$TOOL" find-if 10.199.0.99 2>&1)
expect_eq "find_if of an address nobody has fails" "$?" 1
expect_contains "find_if says what it looked for" "$OUT" "10.199.0.99"
# the same address in a pod of another node netns: each node finds its own veth
ip netns add "azds-t$INST-node2" && ip netns add "azds-t$INST-q7"
ip -n "azds-t$INST-node2" link add vethq7 type veth peer name eth0 netns "azds-t$INST-q7"
ip -n "azds-t$INST-q7" addr add 10.199.0.7/24 dev eth0
expect_eq "find_if with the address twice: this node's veth" "$(in_node "$TOOL" find-if 10.199.0.7 2>&1)" vetht7
expect_eq "find_if with the address twice: the other node's" \
	"$(nsenter --net="/run/netns/azds-t$INST-node2" "$TOOL" find-if 10.199.0.7 2>&1)" vethq7
# no veth of this netns leads to pod 7 from the root netns: not found there
OUT=$("$TOOL" find-if 10.199.0.7 2>&1)
expect_eq "find_if from another netns does not find it" "$?" 1
# ADD with a prevResult that lists no host interface: found by address
mkpod 8
jq -n --arg i "$INST" --arg ns "/run/netns/azds-t$INST-p8" '{cniVersion: "1.0.0", name: "azds-test", type: "azds-cni",
	instance: $i, prevResult: {cniVersion: "1.0.0", interfaces: [{name: "eth0", sandbox: $ns}],
	ips: [{interface: 0, address: "10.199.0.8/24"}]}}' >"$WORK/c8.json"
cni ADD 8 alice web-8 "$WORK/c8.json"
expect_eq "ADD finds an unlisted host veth by address" "$RC/$(record 8 | jq -r .hostIf)/$(tc_of vetht8 | grep -c azds_steer)" "0/vetht8/1"
# a 0.4.0 prevResult (ips with "version")
mkpod 10
jq --arg i "$INST" '.cniVersion = "0.4.0" | .prevResult.cniVersion = "0.4.0" | .prevResult.ips[0].version = "4"' \
	<(conf 10 prev) >"$WORK/c10.json"
cni ADD 10 alice web-10 "$WORK/c10.json"
expect_eq "ADD with a 0.4.0 prevResult" "$RC/$(pod_entry 10.199.0.10)" "0/web-10 dev/alice"

# ---- GC: a recorded container the runtime no longer has is deleted ------------------------
jq -n --arg i "$INST" '{cniVersion: "1.1.0", name: "azds-test", type: "azds-cni", instance: $i,
	"cni.dev/valid-attachments": [{containerID: "ctr10", ifname: "eth0"}]}' >"$WORK/gc.json"
OUT=$(in_node env -i CNI_COMMAND=GC CNI_PATH="$BIN" "$PLUGIN" <"$WORK/gc.json" 2>&1)
expect_eq "GC: success" "$?/$OUT" "0/"
expect_eq "GC: the stale pod's record, entry and filter gone" \
	"$(record 8)/$(pod_entry 10.199.0.8)/$(tc_of vetht8 | grep -c azds_steer)" "//0"
expect_eq "GC: the valid one kept" "$(record 10 | jq -r .attached)/$(pod_entry 10.199.0.10)" "true/web-10 dev/alice"

# ---- the node's cgroup programs, and knode_down clearing every filter -------------------
CG=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)/azds-t$INST-pods
mkdir -p "$CG"
in_node "$TOOL" knode-up "$INST" "$CG"
R1=$?
in_node "$TOOL" knode-up "$INST" "$CG"
R2=$?
SHOW=$(bpftool cgroup show "$CG" 2>&1)
expect_eq "knode_up twice: success, connect4, connect6, sockops once each" \
	"$R1/$R2/$(echo "$SHOW" | grep -c azds_connect4)/$(echo "$SHOW" | grep -c azds_connect6)/$(echo "$SHOW" | grep -c azds_sockops)" "0/0/1/1/1"
in_node "$TOOL" knode-down "$INST" "$CG"
expect_eq "knode_down: nothing of azds on the cgroup" "$(bpftool cgroup show "$CG" 2>&1 | grep -c azds_)" 0
expect_eq "knode_down: no azds_steer left on the node's interfaces" \
	"$(for i in vetht7 vetht8 vetht10 vetht3; do tc_of $i; done | grep -c azds_steer)" 0
in_node "$TOOL" knode-down "$INST" "$CG"
expect_eq "knode_down again: success" "$?" 0
rmdir "$CG"

# ---- install / uninstall on a temporary CNI directory -------------------------------------
CB=$WORK/opt-cni-bin
CD=$WORK/net.d
mkdir -p "$CB" "$CD"
cat >"$CD/10-bridge.conflist" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "k8s-pod-network",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.1.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}
EOF
cp "$CD/10-bridge.conflist" "$WORK/orig.conflist"
echo '{"cniVersion": "1.0.0", "name": "later", "plugins": [{"type": "ptp"}]}' >"$CD/20-later.conflist"
"$TOOL" install "$PLUGIN" "$CB" "$CD" "$INST"
expect_eq "install: success" "$?" 0
expect_eq "install: binary copied, mode 755" "$(cmp -s "$PLUGIN" "$CB/azds-cni" && stat -c %a "$CB/azds-cni")" 755
expect_eq "install: our entry last" "$(jq -c '.plugins[-1]' "$CD/10-bridge.conflist")" "{\"type\":\"azds-cni\",\"instance\":\"$INST\"}"
expect_eq "install: the other plugins and fields kept" "$(jq -S -c 'del(.plugins[-1])' "$CD/10-bridge.conflist")" \
	"$(jq -S -c . "$WORK/orig.conflist")"
expect_eq "install: only the first conflist changed" "$(jq -c '.plugins | map(.type)' "$CD/20-later.conflist")" '["ptp"]'
SUM=$(sha256sum "$CD/10-bridge.conflist")
"$TOOL" install "$PLUGIN" "$CB" "$CD" "$INST"
expect_eq "install twice: unchanged file, one entry" "$?/$(sha256sum "$CD/10-bridge.conflist")" "0/$SUM"
"$TOOL" install "$PLUGIN" "$CB" "$CD" other1
expect_eq "install with another instance: the entry updated, still one" \
	"$(jq -c '[.plugins[] | select(.type == "azds-cni") | .instance]' "$CD/10-bridge.conflist")" '["other1"]'
expect_eq "no temporary file left" "$(ls -A "$CD" "$CB" | grep -c '\.tmp$')" 0
"$TOOL" uninstall "$CB" "$CD"
expect_eq "uninstall: success" "$?" 0
expect_eq "uninstall: our entry gone, the rest as before" "$(jq -S -c . "$CD/10-bridge.conflist")" "$(jq -S -c . "$WORK/orig.conflist")"
expect_eq "uninstall: binary gone" "$(ls "$CB")" ""
"$TOOL" uninstall "$CB" "$CD"
expect_eq "uninstall twice: success" "$?" 0
printf '{"cniVersion": "1.0.0", "plugins": [' >"$CD/05-broken.conflist"
OUT=$("$TOOL" install "$PLUGIN" "$CB" "$CD" "$INST" 2>&1)
expect_eq "install refuses an unparseable conflist" "$?" 1
expect_contains "naming the file" "$OUT" "05-broken.conflist"
expect_eq "and changes nothing" "$(ls "$CB")/$(jq -S -c . "$CD/10-bridge.conflist")" "/$(jq -S -c . "$WORK/orig.conflist")"
"$TOOL" uninstall "$CB" "$CD"
expect_eq "uninstall ignores someone else's broken file" "$?" 0
rm "$CD/05-broken.conflist"
echo '{"cniVersion": "1.0.0", "name": "single", "type": "bridge"}' >"$CD/01-single.conf"
OUT=$("$TOOL" install "$PLUGIN" "$CB" "$CD" "$INST" 2>&1)
expect_eq "install refuses when a single-plugin .conf comes first" "$?" 1
expect_contains "naming it" "$OUT" "01-single.conf"
rm "$CD/01-single.conf"
OUT=$("$TOOL" install "$PLUGIN" "$CB" "$WORK/empty-dir-missing" "$INST" 2>&1)
expect_eq "install into a missing conf dir fails" "$?" 1

# ---- optional: the real bridge plugin, then azds-cni, chained as libcni runs them -----------
BRIDGE=$(ls /var/cache/azds/k8s/cni-plugins-*/bin/bridge 2>/dev/null | tail -1)
if [ -n "$BRIDGE" ] && [ -x "$(dirname "$BRIDGE")/host-local" ]; then
	ip netns add "azds-t$INST-p20"
	BCONF=$(jq -n --arg d "$WORK/ipam" '{cniVersion: "1.0.0", name: "azds-test", type: "bridge", bridge: "cbr9",
		isGateway: true, ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: "10.199.9.0/24"}]]}}')
	benv() { in_node env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_CONTAINERID=ctr20 \
		CNI_NETNS="/run/netns/azds-t$INST-p20" CNI_IFNAME=eth0 CNI_PATH="$(dirname "$BRIDGE")" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=alice;K8S_POD_NAME=bridged;K8S_POD_UID=u20" "${@:2}"; }
	RES=$(echo "$BCONF" | benv ADD "$BRIDGE")
	jq -n --argjson p "$RES" --arg i "$INST" '{cniVersion: "1.0.0", name: "azds-test", type: "azds-cni", instance: $i,
		prevResult: $p}' >"$WORK/c20.json"
	OUT=$(benv ADD "$PLUGIN" <"$WORK/c20.json" 2>"$WORK/stderr")
	RC=$?
	ADDR=$(echo "$RES" | jq -r '.ips[0].address' | cut -d/ -f1)
	HOSTIF=$(record 20 | jq -r .hostIf)
	BRDEV=$(echo "$RES" | jq -r '.interfaces[0].name')
	expect_eq "bridge + azds-cni: attached to the bridge that bridge made, not its port $HOSTIF" \
		"$RC/$(pod_entry "$ADDR")/$(tc_of "$BRDEV" | grep -c azds_steer)/$(tc_of "$HOSTIF" | grep -c azds_steer)" \
		"0/bridged dev/alice/1/0"
	expect_eq "bridge + azds-cni: the result passed on" "$(echo "$OUT" | jq -S -c .)" "$(echo "$RES" | jq -S -c .)"
	benv DEL "$PLUGIN" <"$WORK/c20.json" >/dev/null 2>&1
	expect_eq "DEL chained (azds-cni first): entry gone" "$?/$(pod_entry "$ADDR")" "0/"
	echo "$BCONF" | benv DEL "$BRIDGE" >/dev/null 2>&1
else
	echo "skip the chained run with the real bridge plugin: not cached (tests/k8s/build.sh)"
fi

echo "cni: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
