#!/bin/sh
# SPDX-License-Identifier: MIT
# Data-plane smoke test run inside the VM by vm-init.sh (POSIX sh: dash).
# The real attach path on the VM's kernel: azds-controller loads and pins the
# BPF programs, attaches cgroup/connect4 + sockops to the instance cgroup,
# azds-init makes pods (netns, veth, TC steering on the node-side veth, cgroup).
#   1. tcp: instance started --no-router; a plain-TCP service "echo" in dev and
#      dev/alice; connect() to the VIP is rewritten in the kernel to the
#      nearest space's backend (client in dev/alice -> echo-alice, client in
#      dev -> echo-dev); 100000 bytes echoed intact. Also by DNS name (dnsmasq).
#   2. http: instance started with azds-router; TC bpf_sk_assign steers SYNs to
#      the VIP to the router, which routes by the azds-route-as header.
# Usage: smoke.sh BIN_DIR   (exit 0 when every check passed)
set -u
BIN=${1:?usage: smoke.sh BIN_DIR}
PASS=0
FAIL=0
INST=""

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

expect_contains() {
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) bad "$1: expected to contain [$3], got [$2]" ;;
	esac
}

ctl() { "$BIN/azds-controller" -i "$INST" "$@"; }
init() { "$BIN/azds-init" -i "$INST" "$@"; }
in_pod() {
	pod=$1
	shift
	"$BIN/azds-init" -i "$INST" exec --pod "$pod" -- "$@"
}
probe() {
	pod=$1
	shift
	in_pod "$pod" "$BIN/azds-probe" "$@" 2>&1
}
pod_addr() { ctl pod list | awk -v p="$1" '$1 == p { print $2 }'; }
vip() { "$BIN/azds" -i "$INST" list-uris --addresses | awk -v n="$1" '$1 == n { sub(".*://", "", $2); print $2 }'; }

# step NAME CMD...: a setup step that must succeed (its output is shown on failure)
step() {
	name=$1
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
		return 0
	fi
	bad "$name: [$*] failed: $out"
	return 1
}

start_server() {
	pod=$1 space=$2 svc=$3
	shift 3
	in_pod "$pod" "$BIN/podserver" --pod "$pod" --space "$space" --service "$svc" "$@" \
		>>"/tmp/$INST-$pod.log" 2>&1 &
}

# wait_ready CLIENT ADDR:PORT tcp|http (readiness only: bounded retries)
wait_ready() {
	i=0
	while [ $i -lt 200 ]; do
		if [ "$3" = tcp ]; then
			probe "$1" tcp "$2" --bytes 1 --timeout 2 >/dev/null 2>&1 && return 0
		else
			probe "$1" get "$2" / --timeout 2 >/dev/null 2>&1 && return 0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	bad "server at $2 never became ready (from $1)"
	return 1
}

# wait_dns: until dnsmasq has written its own pid file (it has set up its
# signal handlers by then). Works around a start-up race in azds: azds-init add
# sends dnsmasq SIGHUP (azds_dns_refresh) as soon as its comm is "dnsmasq"; one
# that arrives while dnsmasq is still being loaded kills it (default action),
# silently, and pods get no DNS. On TCG that window is long enough to hit.
wait_dns() {
	i=0
	while [ $i -lt 100 ]; do
		[ -s "/run/azds/$INST/dnsmasq.inner.pid" ] && return 0
		i=$((i + 1))
		sleep 0.1
	done
	bad "dnsmasq of $INST did not come up (no /run/azds/$INST/dnsmasq.inner.pid)"
	return 1
}

dump_state() {
	echo "--- $INST: status"
	ctl status 2>&1
	ctl pod list 2>&1
	"$BIN/azds" -i "$INST" list-uris --addresses 2>&1
	for f in /run/azds/"$INST"/*.log /tmp/"$INST"-*.log; do
		[ -e "$f" ] || continue
		echo "--- $f (last lines)"
		tail -n 20 "$f"
	done
}

# ---------------------------------------------------------------------------
echo "## phase 1: plain TCP, kernel balancing (cgroup/connect4), --no-router"
INST=vmtcp
ctl stop >/dev/null 2>&1
if step "controller start --no-router (BPF load + pin + cgroup attach)" ctl start --no-router &&
	wait_dns &&
	step "space add dev" ctl space add dev &&
	step "space add dev/alice" ctl space add dev/alice &&
	step "service add dev echo (tcp)" ctl service add dev echo --kind tcp --port 7000 --target-port 7000 &&
	step "service add dev/alice echo (tcp)" ctl service add dev/alice echo --kind tcp --port 7000 --target-port 7000 &&
	step "pod echo-dev (netns, veth, TC attach)" init add --pod echo-dev --space dev --service echo &&
	step "pod echo-alice" init add --pod echo-alice --space dev/alice --service echo &&
	step "pod client-alice" init add --pod client-alice --space dev/alice &&
	step "pod client-dev" init add --pod client-dev --space dev; then
	start_server echo-dev dev echo --listen 0.0.0.0:7000 --tcp
	start_server echo-alice dev/alice echo --listen 0.0.0.0:7000 --tcp
	if wait_ready client-alice "$(pod_addr echo-dev):7000" tcp &&
		wait_ready client-alice "$(pod_addr echo-alice):7000" tcp; then
		V=$(vip echo)
		echo "echo VIP: $V"
		r=$(probe client-alice tcp "$V" --bytes 100000)
		echo "$r" | sed 's/^/  client-alice> /'
		expect_contains "client in dev/alice -> VIP balanced to echo-alice" "$r" "pod=echo-alice"
		expect_contains "client in dev/alice: 100000 bytes echoed" "$r" "ok bytes=100000"
		r=$(probe client-dev tcp "$V" --bytes 100000)
		echo "$r" | sed 's/^/  client-dev> /'
		expect_contains "client in dev -> VIP balanced to echo-dev" "$r" "pod=echo-dev"
		expect_contains "client in dev: 100000 bytes echoed" "$r" "ok bytes=100000"
		r=$(probe client-alice tcp echo:7000 --bytes 1000)
		echo "$r" | sed 's/^/  client-alice> /'
		expect_contains "by DNS name (dnsmasq, search list): echo -> echo-alice" "$r" "pod=echo-alice"
		expect_contains "dnsmasq survived the pods' DNS refreshes" "$(ctl status 2>&1)" "dns:        running"
		# 6.1 takes trampolines: the splice guard runs on fentry, its links
		# pinned with the instance (the loader has long exited)
		expect_contains "the splice guard on fentry" "$(ctl status 2>&1)" "splice-guard=attached (fentry)"
		if [ -e "/sys/fs/bpf/azds/$INST/link_splice_fentry" ] && [ -e "/sys/fs/bpf/azds/$INST/link_zerocopy_fentry" ] &&
			[ ! -e "/sys/fs/bpf/azds/$INST/link_splice_guard" ]; then
			ok "the guard's fentry links are pinned, the tracepoints' are not"
		else
			bad "the guard's links: $(ls /sys/fs/bpf/azds/$INST | grep link_ | tr '\n' ' ')"
		fi
	fi
fi
dump_state
step "controller stop" ctl stop

# ---------------------------------------------------------------------------
echo "## phase 2: HTTP, TC bpf_sk_assign steering to azds-router"
INST=vmhttp
ctl stop >/dev/null 2>&1
if step "controller start (with azds-router)" ctl start &&
	wait_dns &&
	step "space add dev" ctl space add dev &&
	step "space add dev/alice" ctl space add dev/alice &&
	step "service add dev api (http)" ctl service add dev api --port 80 --target-port 8080 &&
	step "service add dev/alice api (http)" ctl service add dev/alice api --port 80 --target-port 8080 &&
	step "pod api-dev" init add --pod api-dev --space dev --service api &&
	step "pod api-alice" init add --pod api-alice --space dev/alice --service api &&
	step "pod client-dev" init add --pod client-dev --space dev; then
	start_server api-dev dev api --listen 0.0.0.0:8080
	start_server api-alice dev/alice api --listen 0.0.0.0:8080
	if wait_ready client-dev "$(pod_addr api-dev):8080" http &&
		wait_ready client-dev "$(pod_addr api-alice):8080" http; then
		V=$(vip api)
		echo "api VIP: $V"
		r=$(probe client-dev get "$V" / -H 'azds-route-as: alice')
		echo "$r" | sed 's/^/  client-dev> /'
		expect_contains "route-as alice via the router -> api-alice" "$r" "pod=api-alice"
		r=$(probe client-dev get "$V" /)
		echo "$r" | sed 's/^/  client-dev> /'
		expect_contains "no header -> caller's space dev -> api-dev" "$r" "pod=api-dev"
	fi
fi
dump_state
step "controller stop" ctl stop

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
