#!/bin/bash
# SPDX-License-Identifier: MIT
# Kernel balancing of plain TCP, the router killed and restarted, pinned
# state surviving, and pods azds does not manage left untouched.
INST=${AZDS_TEST_PREFIX:-}itfail
. "$(dirname "$0")/lib.sh"
setup_topology
ECHO=$(vip echo)

# --- plain TCP: balanced in the kernel with the same fallback ---------------------
r=$(probe web tcp echo:7000 --bytes 3000000)
expect_contains "TCP from dev reaches dev's echo" "$r" "pod=echo-dev space=dev"
expect_contains "TCP bytes arrive unchanged (3 MB echoed)" "$r" "ok bytes=3000000"
r=$(probe client-x tcp "$ECHO" --bytes 100000)
expect_contains "TCP from dev/alice/x falls back to alice's echo" "$r" "pod=echo-alice"
expect_contains "TCP bytes unchanged via fallback" "$r" "ok bytes=100000"
steered=$(counter steered)
balanced=$(counter lb_balanced)
probe web tcp echo:7000 --bytes 1000 >/dev/null
expect_eq "TCP service never steered to the router" "$(counter steered)" "$steered"
expect_eq "TCP service balanced in the kernel" "$(counter lb_balanced)" "$((balanced + 1))"

# --- a long-lived TCP connection across a router kill ---------------------------
rm -f "$WORK/go" "$WORK/opened"
in_pod web bash -c "exec 3<>/dev/tcp/${ECHO%:*}/${ECHO#*:}; read -r banner <&3; echo \"\$banner\" >$WORK/banner;
	touch $WORK/opened; while [ ! -e $WORK/go ]; do sleep 0.05; done;
	echo still-here >&3; read -r line <&3; echo \"\$line\" >$WORK/after" &
lived=$!
for i in $(seq 1 200); do [ -e "$WORK/opened" ] && break; sleep 0.05; done

spaces_before=$($CTL space list)
services_before=$($CTL service list)
rpid=$(cat /run/azds/$INST/router.pid)
kill -9 "$rpid"
while kill -0 "$rpid" 2>/dev/null; do sleep 0.02; done

# router gone: HTTP services fail at once (reset), never hang
r=$(probe web get api:80 / --timeout 20)
expect_contains "router down: HTTP connect refused at once" "$r" "Connection refused"
touch "$WORK/go"
wait "$lived"
expect_eq "kernel-balanced TCP connection undisturbed by the router's death" "$(cat "$WORK/after" 2>/dev/null)" "still-here"
r=$(probe web tcp echo:7000 --bytes 1000)
expect_contains "new TCP connections still balanced without the router" "$r" "ok bytes=1000"

# restart: header routing resumes, pinned state intact
$CTL start >/dev/null || bad "controller start (restart)"
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "router restarted: routing by header resumes" "$r" "pod=api-alice"
expect_eq "spaces survived the router's death" "$($CTL space list)" "$spaces_before"
expect_eq "services survived the router's death" "$($CTL service list)" "$services_before"

# --- controller restart (re-load of the programs) keeps state -----------------------
$CTL start >/dev/null || bad "controller start (again)"
expect_eq "reloading the data plane keeps every space" "$($CTL space list)" "$spaces_before"
r=$(probe client-x get api:80 /)
expect_contains "routing after reload" "$r" "pod=api-alice"

# --- a pod azds does not manage is untouched ------------------------------------
NS=azds-$INST-p-outsider # named under the instance so 'stop' removes it too
ip netns add $NS
ip -n azds-$INST-node link add azpouts type veth peer name azouttmp
ip -n azds-$INST-node link set azouttmp netns $NS
ip -n $NS link set azouttmp name eth0
ip -n $NS addr add 10.77.250.1/32 dev eth0
ip -n $NS link set eth0 up
ip -n $NS link set lo up
ip -n $NS route add 169.254.1.1 dev eth0 scope link
ip -n $NS route add default via 169.254.1.1 dev eth0
ip -n azds-$INST-node link set azpouts up
ip -n azds-$INST-node route add 10.77.250.1/32 dev azpouts
r=$(ip netns exec $NS "$BIN/azds-probe" get "$(pod_addr api-dev):8080" / 2>&1)
expect_contains "unmanaged pod reaches a pod directly, unchanged" "$r" "pod=api-dev"
steered=$(counter steered)
r=$(ip netns exec $NS "$BIN/azds-probe" get "$(vip api)" / --timeout 20 2>&1)
expect_contains "unmanaged pod's service connection is not steered (the node resets it)" "$r" "Connection refused"
expect_eq "router never saw the unmanaged pod" "$(counter steered)" "$steered"

# --- runtime switch: kernel balancing off -> TCP service refused at once ---------------
$CTL set kernel-lb off
r=$(probe web tcp echo:7000 --bytes 10 --timeout 20)
expect_contains "kernel-lb off: TCP service connection refused" "$r" "Connection refused"
$CTL set kernel-lb on
r=$(probe web tcp echo:7000 --bytes 10)
expect_contains "kernel-lb on again" "$r" "ok bytes=10"

# --- the router's connection limit, set through the controller --------------------------
stop_router
$CTL start --router-arg --max-conns --router-arg 40 >/dev/null || bad "start with a router setting"
$INIT exec --pod web -- "$BIN/azds-idle" "$(vip api)" 40 >"$WORK/idle.out" 2>&1 &
idle=$!
for i in $(seq 1 200); do grep -qs "^open" "$WORK/idle.out" && break; sleep 0.05; done
r=$(probe web get api:80 / --timeout 20)
expect_not_contains "at the connection limit a new connection is not served" "$r" "pod=api"
kill "$idle"
wait "$idle" 2>/dev/null
for i in $(seq 1 100); do
	r=$(probe web get api:80 / --timeout 5)
	case "$r" in *pod=api*) break ;; esac
	sleep 0.05
done
expect_contains "below the limit again: served" "$r" "pod=api-dev"
stop_router
$CTL start >/dev/null
expect_contains "a restart keeps the router's settings" "$(tr '\n' ' ' </run/azds/$INST/router.args)" "--max-conns 40"

# --- init is idempotent and del leaves nothing -----------------------------------------
a1=$($INIT add --pod api-dev --space dev --service api)
expect_eq "azds-init add is idempotent (same address)" "$a1" "$(pod_addr api-dev)"
ip -n azds-$INST-p-api-dev link del eth0 # as if an add had been interrupted
$INIT add --pod api-dev --space dev --service api >/dev/null
r=$(probe web get api:80 /)
expect_contains "azds-init add repairs a pod's missing network" "$r" "pod=api-dev"
$INIT del --pod client-x
expect_eq "pod netns removed" "$(ip netns list | grep -c "azds-$INST-p-client-x")" "0"
expect_eq "pod resolv.conf removed" "$(ls /etc/netns 2>/dev/null | grep -c "azds-$INST-p-client-x")" "0"
expect_eq "pod unregistered" "$($CTL pod list | grep -c client-x)" "0"

# --- stop leaves nothing behind -------------------------------------------------
$CTL stop >/dev/null
expect_eq "no namespaces left" "$(ip netns list | grep -c "azds-$INST-")" "0"
expect_eq "no pins left" "$(ls /sys/fs/bpf/azds/$INST 2>/dev/null | wc -l)" "0"
cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
expect_eq "no cgroup left" "$(ls -d "$cg/azds-$INST" 2>/dev/null | wc -l)" "0"
expect_eq "no resolv.conf left" "$(ls /etc/netns 2>/dev/null | grep -c "azds-$INST-")" "0"
# the shared parents stay only while another instance still uses them
for d in /sys/fs/bpf/azds /run/azds; do
	if [ ! -d "$d" ] || [ -n "$(ls -A "$d")" ]; then ok "no empty $d left"; else bad "empty $d left behind"; fi
done

finish
