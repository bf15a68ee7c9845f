#!/bin/bash
# SPDX-License-Identifier: MIT
# Pods that azds-cni attached are really steered: a test instance with its
# router and two copies of service api (dev, dev/alice), and pods made the
# way a container runtime makes them (a veth the main plugin made, azds-cni
# ADD chained after it, run in the node's netns). A pod in namespace alice
# reaches alice's api, one in namespace dev reaches dev's, one in a namespace
# that is no space is not steered, and after DEL neither is the alice pod.
# Both kinds of main plugin: ptp (a /32 route per veth) and bridge.
INST=${AZDS_TEST_PREFIX:-}cnisteer
. "$(dirname "$0")/../integration/lib.sh"
PLUGIN=$BIN/azds-cni
NODE=azds-$INST-node
RUN=/run/azds/$INST
# the pods' netns are named like the instance's own pods: purge removes
# them with the node namespace, and the run directory with the records
cleanup() {
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
$CTL purge >/dev/null 2>&1 # an earlier crashed run's
$CTL start >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
$CTL space add dev && $CTL space add dev/alice || exit 1
$CTL service add dev api --port 80 --target-port 8080 >/dev/null || exit 1
$CTL service add dev/alice api --port 80 --target-port 8080 >/dev/null || exit 1
$INIT add --pod api-dev --space dev --service api >/dev/null || exit 1
$INIT add --pod api-alice --space dev/alice --service api >/dev/null || exit 1
start_server api-dev dev api --listen 0.0.0.0:8080
start_server api-alice dev/alice api --listen 0.0.0.0:8080
VIP=$($CTL service list | awk '$2 == "api" {print $4; exit}')
VIP=${VIP%%:*}
mkdir -p "$RUN/k8s/spaces" && printf 'dev/alice\n' >"$RUN/k8s/spaces/alice" && printf 'dev\n' >"$RUN/k8s/spaces/dev"

# ptp N ADDR: what the ptp plugin makes: eth0 ADDR/32, the host end vethkN with a /32 route
ptp() {
	local ns=azds-$INST-p-k$1
	ip netns add "$ns" &&
		ip -n "$NODE" link add "vethk$1" type veth peer name eth0 netns "$ns" &&
		ip -n "$ns" addr add "$2/32" dev eth0 && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up &&
		ip -n "$ns" route add 169.254.1.1 dev eth0 scope link &&
		ip -n "$ns" route add default via 169.254.1.1 dev eth0 &&
		ip -n "$NODE" link set "vethk$1" up && ip -n "$NODE" route add "$2/32" dev "vethk$1" scope link
}

# bridged N ADDR: what the bridge plugin makes: eth0 ADDR/24 behind bridge cbr0 (10.199.2.1)
bridged() {
	local ns=azds-$INST-p-k$1
	if ! ip -n "$NODE" link show cbr0 >/dev/null 2>&1; then
		ip -n "$NODE" link add cbr0 type bridge && ip -n "$NODE" addr add 10.199.2.1/24 dev cbr0 &&
			ip -n "$NODE" link set cbr0 up || return 1
	fi
	ip netns add "$ns" &&
		ip -n "$NODE" link add "vethk$1" type veth peer name eth0 netns "$ns" &&
		ip -n "$NODE" link set "vethk$1" master cbr0 up &&
		ip -n "$ns" addr add "$2/24" dev eth0 && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up &&
		ip -n "$ns" route add default via 10.199.2.1
}

# cni CMD N ADDR NAMESPACE [bridge]: azds-cni in the node netns with the main plugin's prevResult
cni() {
	local ifs
	if [ "${5:-}" = bridge ]; then
		ifs='[{"name": "cbr0"}, {"name": "vethk'$2'"}, {"name": "eth0", "sandbox": "/run/netns/azds-'$INST'-p-k'$2'"}]'
	else
		ifs='[{"name": "vethk'$2'"}, {"name": "eth0", "sandbox": "/run/netns/azds-'$INST'-p-k'$2'"}]'
	fi
	jq -n --arg i "$INST" --argjson ifs "$ifs" --arg a "$3/32" '{cniVersion: "1.0.0", name: "t", type: "azds-cni",
		instance: $i, prevResult: {cniVersion: "1.0.0", interfaces: $ifs, ips: [{interface: (($ifs | length) - 1), address: $a}]}}' |
		nsenter --net="/run/netns/$NODE" env -i CNI_COMMAND="$1" CNI_CONTAINERID="k$2" \
			CNI_NETNS="/run/netns/azds-$INST-p-k$2" CNI_IFNAME=eth0 CNI_PATH="$BIN" \
			CNI_ARGS="K8S_POD_NAMESPACE=$4;K8S_POD_NAME=client-$2;K8S_POD_UID=u$2" "$PLUGIN" >"$WORK/out" 2>&1
}

# get N: GET the service address from pod N, until one of azds' podservers answers (bounded);
# prints what answered
get() {
	local i out
	for i in $(seq 1 40); do
		out=$(ip netns exec "azds-$INST-p-k$1" "$BIN/azds-probe" get "$VIP:80" / --timeout 2 2>&1)
		case $out in *pod=*) echo "$out" | grep -o 'pod=[a-z-]*'; return 0 ;; esac
		sleep 0.05
	done
	echo "${out:-nothing}" | head -1
}
wait_ready_any() { # the servers listen before the first client asks
	local i
	for i in $(seq 1 200); do
		[ -n "$(ip netns exec "azds-$INST-p-api-alice" ss -Hltn 'sport = :8080')" ] &&
			[ -n "$(ip netns exec "azds-$INST-p-api-dev" ss -Hltn 'sport = :8080')" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_ready_any || { echo "FAIL the podservers never listened"; exit 1; }

ptp 1 10.199.1.3 && ptp 2 10.199.1.4 && ptp 3 10.199.1.5 || { echo "FAIL cannot make the ptp pods"; exit 1; }
cni ADD 1 10.199.1.3 alice
expect_eq "ADD of the alice pod (ptp)" "$?" 0
cni ADD 2 10.199.1.4 dev
expect_eq "ADD of the dev pod (ptp)" "$?" 0
cni ADD 3 10.199.1.5 plain
expect_eq "ADD of a pod of no space" "$?" 0
expect_eq "the alice pod reaches alice's api" "$(get 1)" "pod=api-alice"
expect_eq "the dev pod reaches dev's api" "$(get 2)" "pod=api-dev"
expect_not_contains "the pod of no space is not steered" "$(get 3)" "pod="
cni DEL 1 10.199.1.3 alice
expect_eq "DEL of the alice pod" "$?" 0
expect_not_contains "after DEL the alice pod is steered no more" "$(get 1)" "pod="

# Bridged: the SYN passes the bridge before the stack, so azds_steer runs
# on the bridge (an assignment at the port is lost on the way through it,
# br_netfilter or not: kpod.c). Both ways of bridge-nf-call-iptables.
NFCALL=/proc/sys/net/bridge/bridge-nf-call-iptables
bridged 4 10.199.2.4 || { echo "FAIL cannot make the bridged pod"; exit 1; }
for nf in 1 0; do
	if nsenter --net="/run/netns/$NODE" sh -c "[ -e $NFCALL ] && echo $nf >$NFCALL"; then
		what="bridge-nf-call-iptables=$nf"
	else
		what="no br_netfilter"
	fi
	cni ADD 4 10.199.2.4 alice bridge
	expect_eq "ADD of the bridged alice pod ($what)" "$?/$(jq -r .hostIf "$RUN/k8s/cni/k4.json")" "0/vethk4"
	expect_eq "the bridged alice pod reaches alice's api ($what)" "$(get 4)" "pod=api-alice"
	cni DEL 4 10.199.2.4 alice bridge
	expect_not_contains "after DEL the bridged pod is steered no more ($what)" "$(get 4)" "pod="
done
finish
