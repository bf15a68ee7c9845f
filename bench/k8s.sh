#!/bin/bash
# SPDX-License-Identifier: MIT
# The Kubernetes mode's benchmark (issue 11 part 10). It prints numbers and
# is not a test. On a harness cluster of its own (tests/k8s/cluster.sh,
# AZDS_K8S_NAME=kbench), with the node agent on node-1 as tests/k8s-agent
# runs it, it measures:
#   1. a namespace labelled until it routes (space + ClusterIP in the maps)
#   2. a Service / EndpointSlice change until it is in the maps
#   3. 200 namespaces x 10 Services synced after an agent restart
#   4. CNI ADD time (azds-cni run as containerd runs it)
#   5. the agent's RSS at that size
#   6. ClusterIP latency and connections/s: azds against kube-proxy
#      (iptables and nftables modes, built from the same module) on the
#      same cluster, through a TCP and an HTTP Service
# Each figure is printed with its target and the command that produced
# it; a figure that is missing or zero, failed requests or a failed step
# make the exit status non-zero (a missed target does not: it is a number
# to read; the summary says "MISSED"). Root. Leaves nothing
# behind, and cleans up after a crashed earlier run first.
#
#   bench/k8s.sh [BINDIR]   (default build/bin: azds-controller, azds-router,
#                            azds-cni, azds-load, k8s-bench)
# Environment: KBENCH_ROUNDS (100), KBENCH_SCALE_ROUNDS (20: measure 2
# again with the 200 x 10 Services in place), KBENCH_NS (200), KBENCH_SVC (10),
# KBENCH_RATE (fixed rate, connections/s, 200), KBENCH_DURATION (s, 10),
# KBENCH_CONNS (closed loop connections, 4), KBENCH_MAX_DURATION (closed
# loop, s, 5: at ~3000 connections/s a longer run wraps the client's
# ephemeral ports onto the backends' TIME_WAIT tuples), KBENCH_KEEP=1
# (leave the cluster up).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
CL=$ROOT/tests/k8s/cluster.sh
export AZDS_K8S_NAME=kbench
INST=kbench1
ROUNDS=${KBENCH_ROUNDS:-100}
NNS=${KBENCH_NS:-200}
NSVC=${KBENCH_SVC:-10}
RATE=${KBENCH_RATE:-200}
DUR=${KBENCH_DURATION:-10}
CONNS=${KBENCH_CONNS:-4}
MAXDUR=${KBENCH_MAX_DURATION:-5}
SCALE_ROUNDS=${KBENCH_SCALE_ROUNDS:-20}
TMP=/tmp/azds-kbench
CNINS=azds-kbench-cni
IMG=localhost/azds-k8s/kbench:1
KPPID=$TMP/kube-proxy.pid
RES=$TMP/results
bad=0

for b in azds-controller azds-router azds-cni azds-load k8s-bench; do
	[ -x "$BIN/$b" ] || { echo "k8s.sh: no $BIN/$b" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "k8s.sh: needs root" >&2; exit 2; }

log() { printf '# %s\n' "$*"; }
agent_pid() { cat "/run/azds/$INST/controller.pid" 2>/dev/null || true; }

# kube-proxy is stopped by the pid it was started with, and its rules go
stop_kube_proxy() {
	local pid
	pid=$(cat "$KPPID" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$KPPID"
	[ -n "${KUBECONFIG:-}" ] && [ -n "${KP:-}" ] || return 0
	"$CL" exec 1 "$KP" --cleanup --kubeconfig "$KUBECONFIG" >>"$TMP/kube-proxy-cleanup.log" 2>&1 || true
	# what --cleanup would leave: its nftables tables, its iptables chains
	"$CL" exec 1 nft delete table ip kube-proxy 2>/dev/null || true
	"$CL" exec 1 nft delete table ip6 kube-proxy 2>/dev/null || true
}

cleanup() {
	local rc=$?
	stop_kube_proxy || true
	if [ -n "${KBENCH_KEEP:-}" ]; then
		echo "# kept: $CL down; $BIN/azds-controller -i $INST purge"
		return $rc
	fi
	"$CL" exec 1 ip netns del "$CNINS" >/dev/null 2>&1 || true
	"$CL" down >/dev/null 2>&1 || true
	"$BIN/azds-controller" -i "$INST" purge >/dev/null 2>&1 || true
	ip netns del "$CNINS" >/dev/null 2>&1 || rm -f "/run/netns/$CNINS"
	[ $rc = 0 ] || { echo "# agent log (last 30 lines)"; tail -30 "$TMP/agent.log" 2>/dev/null || true; }
	rm -rf "$TMP"
	return $rc
}

# A crashed earlier run's cluster, instance and files go first.
"$CL" down >/dev/null 2>&1 || true
"$BIN/azds-controller" -i "$INST" purge >/dev/null 2>&1 || true
ip netns del "$CNINS" >/dev/null 2>&1 || rm -f "/run/netns/$CNINS"
rm -rf "$TMP"
mkdir -p "$TMP"
: >"$RES"
trap cleanup EXIT

"$ROOT/tests/k8s/build.sh" kube-proxy >/dev/null
KP=$("$ROOT/tests/k8s/build.sh" --print-dir kube-proxy)/bin/kube-proxy
log "kube-proxy $("$KP" --version 2>/dev/null)"
nice -n 19 "$CL" up
eval "$("$CL" env)"
kc() { "$CL" kubectl "$@"; }
"$ROOT/tests/k8s/image.sh" -b -o "$TMP/kbench.tar" -n "$IMG" -A "$BIN/azds-load:/usr/bin/azds-load" -c '["/bin/sh"]'
for n in 1 2; do "$CL" ctr "$n" images import "$TMP/kbench.tar" >/dev/null 2>&1; done

# run CMD...: prints the command (KB: k8s-bench inside node-1), keeps its
# RESULT lines with the command
run() {
	local out c
	c=$(printf '%s ' "$@" | sed "s|^KB |tests/k8s/cluster.sh exec 1 k8s-bench |; s|$S|\$S|g; s| *$||")
	echo "\$ $c"
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out"
		echo "k8s.sh: $c: failed" >&2
		bad=1
		return 1
	fi
	printf '%s\n' "$out"
	printf '%s\n' "$out" | grep '^RESULT ' | sed "s|\$| cmd=$c|" >>"$RES" || true
}
# a RESULT line of our own: result NAME MS [CMD]
result() { echo "RESULT $1 n=1 p50_ms=$2 p99_ms=$2 max_ms=$2 min_ms=$2 cmd=$3" | tee -a "$RES"; }

wait_for() { # wait_for WHAT CMD...: a bounded retry (120 s)
	local what=$1
	shift
	for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "k8s.sh: $what: never happened" >&2
	return 1
}
synced() { grep -q '"synced":true' "/run/azds/$INST/k8s/status.json"; }
start_agent() {
	"$CL" exec 1 "$BIN/azds-controller" -i "$INST" run --kubeconfig "$KUBECONFIG" --node node-1 \
		--pod-cgroup "/sys/fs/cgroup/unified/azds-k8s-$AZDS_K8S_NAME-n1/kubepods" \
		--cni-bin-dir "$S/n1/cni/bin" --cni-conf-dir "$S/n1/cni/net.d" >>"$TMP/agent.log" 2>&1 &
}
KB() { "$CL" exec 1 "$BIN/k8s-bench" "$@"; }

kc create namespace azds >/dev/null # the agent's Lease lives there
start_agent
wait_for "agent synced" synced
log "agent on node-1 synced (pid $(agent_pid))"

echo
log "1. namespace labelled until it routes (target p99 < 100 ms)"
run KB label --kubeconfig "$KUBECONFIG" -i "$INST" --ns kbl --rounds "$ROUNDS"

echo
log "2. Service / EndpointSlice change until it is in the maps (target p99 < 50 ms)"
run KB change --kubeconfig "$KUBECONFIG" -i "$INST" --ns kbc --rounds "$ROUNDS"

echo
log "4. CNI ADD time (target p50 < 20 ms): azds-cni ADD with a prevResult, run as containerd runs it,"
log "   on a veth of a netns of our own in node-1 (routed host end), a space's namespace and a plain one"
kc create namespace kbcs >/dev/null
kc label namespace kbcs azds.io/space=true >/dev/null
kc create namespace kbcp >/dev/null
wait_for "kbcs published" test -f "/run/azds/$INST/k8s/spaces/kbcs"
"$CL" exec 1 sh -e -c "ip netns add $CNINS
	ip link add kbv0 type veth peer name eth0 netns $CNINS
	ip -n $CNINS addr add 10.202.1.250/24 dev eth0
	ip -n $CNINS link set eth0 up
	ip link set kbv0 up
	ip route replace 10.202.1.250/32 dev kbv0"
for ns in kbcs kbcp; do
	run KB cni --plugin "$S/n1/cni/bin/azds-cni" -i "$INST" --ns "$ns" --netns "/run/netns/$CNINS" \
		--host-if kbv0 --addr 10.202.1.250/24 --rounds "$ROUNDS"
done
"$CL" exec 1 ip netns del "$CNINS"

echo
log "6. ClusterIP latency and connections/s: azds (kbsp, labelled) vs kube-proxy (kbpl, unlabelled)"
log "   clients on node-1, two busybox httpd backends on node-2 per namespace (8080: web, 8081: tcp); azds-load --new-conn"
mkpods() { # mkpods NS PROXYLABEL
	local lab=''
	[ "$2" = yes ] && lab='"service.kubernetes.io/service-proxy-name": "azds-bench",'
	kc apply -f - >/dev/null <<YAML
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "$1", "labels": {$lab "x": "y"}},
  "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "tcp", "namespace": "$1", "labels": {$lab "x": "y"}},
  "spec": {"selector": {"app": "web"}, "ports": [{"name": "tcp-web", "port": 7000, "targetPort": 8081}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b1", "namespace": "$1", "labels": {"app": "web"}},
  "spec": {"nodeName": "node-2", "terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "$IMG",
  "imagePullPolicy": "Never", "command": ["sh", "-c", "mkdir /www && echo hello > /www/index.html && httpd -p 8080 -h /www && httpd -p 8081 -h /www && exec sleep 36000"]}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b2", "namespace": "$1", "labels": {"app": "web"}},
  "spec": {"nodeName": "node-2", "terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "$IMG",
  "imagePullPolicy": "Never", "command": ["sh", "-c", "mkdir /www && echo hello > /www/index.html && httpd -p 8080 -h /www && httpd -p 8081 -h /www && exec sleep 36000"]}]}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "namespace": "$1"},
  "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 0,
  "securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}]},
  "containers": [{"name": "c", "image": "$IMG",
  "imagePullPolicy": "Never", "command": ["sleep", "36000"]}]}}]}
YAML
}
kc apply -f - >/dev/null <<'YAML'
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kbsp", "labels": {"azds.io/space": "true"}}}
YAML
kc create namespace kbpl >/dev/null
sa() { kc get serviceaccount -n "$1" default; }
wait_for "kbsp's ServiceAccount" sa kbsp
wait_for "kbpl's ServiceAccount" sa kbpl
mkpods kbsp yes
mkpods kbpl no
running() { [ "$(kc get pod -n "$1" "$2" -o jsonpath='{.status.phase}')" = Running ]; }
for p in kbsp/b1 kbsp/b2 kbsp/client kbpl/b1 kbpl/b2 kbpl/client; do wait_for "pod $p" running "${p%/*}" "${p#*/}"; done
cip() { kc get svc -n "$1" "$2" -o jsonpath='{.spec.clusterIP}'; }
SW=$(cip kbsp web) ST=$(cip kbsp tcp) PW=$(cip kbpl web) PT=$(cip kbpl tcp)
dump() { AZDS_INSTANCE=$INST "$BIN/azds-controller" k8s-dump; }
two_backends() { dump | grep -Eq "^service kbsp $1 .* [0-9.]+ [0-9.]+$"; }
wait_for "kbsp web's backends" two_backends web
wait_for "kbsp tcp's backends" two_backends tcp
# serves IP PORT: one request from the client pod gets the page
serves() { kc exec -n "$1" client -- azds-load --target "$2" --rate 20 --duration 0.5 --warmup 0 --new-conn -o json 2>/dev/null |
	grep -q '"errors":0,'; }

# load NAME NS TARGET: fixed rate (latency) and closed loop (maximum),
# --new-conn; failed requests are kept in the RESULT line (errors=N).
# --drain-ms 0: the client closes as soon as it has the response, as curl,
# browsers and most HTTP clients do (azds-load's default waits for the
# server's FIN, and the router in this mode waits for the client's: each
# would stand the other off); the client pod's wide port range holds the
# TIME_WAIT that this leaves on the client's side.
load() {
	local name=$1 ns=$2 t=$3 out c
	c="kubectl exec -n $ns client -- azds-load --target $t --new-conn --drain-ms 0 --rate $RATE --duration $DUR --connections 64 --timeout-ms 2000"
	echo "\$ $c -o json"
	out=$(kc exec -n "$ns" client -- azds-load --target "$t" --new-conn --drain-ms 0 --rate "$RATE" --duration "$DUR" \
		--connections 64 --timeout-ms 2000 -o json 2>"$TMP/load.err") || cat "$TMP/load.err"
	echo "$out"
	jq -e -r --arg n "$name" --arg c "$c" \
		'"RESULT lat_\($n) n=\(.requests) p50_ms=\(.p50_us / 1000) p99_ms=\(.p99_us / 1000) max_ms=\(.max_us / 1000) min_ms=0 errors=\(.errors) cmd=\($c)"' \
		<<<"$out" >>"$RES" || { echo "k8s.sh: $c: no result" >&2; bad=1; }
	c="kubectl exec -n $ns client -- azds-load --target $t --new-conn --drain-ms 0 --rate 0 --connections $CONNS --duration $MAXDUR --timeout-ms 2000"
	echo "\$ $c -o json"
	out=$(kc exec -n "$ns" client -- azds-load --target "$t" --new-conn --drain-ms 0 --rate 0 --connections "$CONNS" \
		--duration "$MAXDUR" --timeout-ms 2000 -o json 2>"$TMP/load.err") || cat "$TMP/load.err"
	echo "$out"
	jq -e -r --arg n "$name" --arg c "$c" \
		'"RESULT max_\($n) n=\(.requests) p50_ms=\(.achieved_rps) p99_ms=\(.achieved_rps) max_ms=\(.achieved_rps) min_ms=\(.achieved_rps) errors=\(.errors) cmd=\($c)"' \
		<<<"$out" >>"$RES" || { echo "k8s.sh: $c: no result" >&2; bad=1; }
}

log "azds (kube-proxy not running): HTTP through the router, TCP balanced by connect4"
wait_for "azds serves web" serves kbsp "$SW:80"
wait_for "azds serves tcp" serves kbsp "$ST:7000"
if serves kbpl "$PW:80"; then echo "k8s.sh: kbpl's ClusterIP answers with no kube-proxy" >&2; bad=1; fi
load azds_http kbsp "$SW:80"
load azds_tcp kbsp "$ST:7000"

for mode in iptables nftables; do
	log "kube-proxy --proxy-mode $mode on node-1"
	"$CL" exec 1 sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$KPPID" "$KP" --kubeconfig "$KUBECONFIG" \
		--hostname-override node-1 --proxy-mode "$mode" --cluster-cidr 10.202.0.0/16 \
		--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
		--iptables-localhost-nodeports=false --metrics-bind-address 127.0.0.1:10249 \
		--healthz-bind-address 127.0.0.1:10256 >"$TMP/kube-proxy-$mode.log" 2>&1 &
	wait_for "kube-proxy $mode serves web" serves kbpl "$PW:80"
	wait_for "kube-proxy $mode serves tcp" serves kbpl "$PT:7000"
	if [ $mode = iptables ]; then rules=$("$CL" exec 1 iptables-save -t nat); else rules=$("$CL" exec 1 nft list table ip kube-proxy); fi
	if grep -q -- "$SW" <<<"$rules"; then
		echo "k8s.sh: kube-proxy ($mode) programmed kbsp's web, which is azds's" >&2
		bad=1
	fi
	# the backends' TIME_WAIT tuples of the mode before (60 s) would
	# collide with this one's new connections through the same DNAT
	log "waiting 61 s for the backends' TIME_WAIT of earlier runs to expire"
	sleep 61
	load "${mode}_http" kbpl "$PW:80"
	load "${mode}_tcp" kbpl "$PT:7000"
	stop_kube_proxy
	if serves kbpl "$PW:80"; then echo "k8s.sh: kube-proxy's $mode rules outlived it" >&2; bad=1; fi
done

echo
log "3. $NNS namespaces x $NSVC Services synced after an agent restart (target < 2 s)"
run KB populate --kubeconfig "$KUBECONFIG" --prefix kbn --namespaces "$NNS" --services "$NSVC"
WANT=$((NNS * NSVC))
run KB wait -i "$INST" --prefix kbn --want "$WANT" --t0-ns "$(date +%s%N)" --timeout-s 300
sed -i 's/^RESULT restart_/RESULT steady_/' "$RES" # the same names as the restart's below
wait_for "agent synced" synced
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(agent_pid)/status"; }
RSS1=$(rss)
log "agent RSS with $WANT services, after watching them arrive: $RSS1 kB"
log "status: $(cat "/run/azds/$INST/k8s/status.json")"

log "2 again, at this size: every change is one full sync of the model"
n0=$(wc -l <"$RES")
run KB change --kubeconfig "$KUBECONFIG" -i "$INST" --ns kbc2 --rounds "$SCALE_ROUNDS"
sed -i "$((n0 + 1)),\$ s/^RESULT \(service_to_vip\|slice_to_backends\|endpoint_change_to_backends\) /RESULT scale_\1 /" "$RES"
log "status: $(cat "/run/azds/$INST/k8s/status.json")"

log "warm: kill -9, then start with the maps as they were; until status.json says synced"
kill -9 "$(agent_pid)"
rm -f "/run/azds/$INST/k8s/status.json"
t0=$(date +%s%N)
start_agent
run KB synced -i "$INST" --t0-ns "$t0" --timeout-s 120
log "status: $(cat "/run/azds/$INST/k8s/status.json")"

log "cold: kill -9, purge the instance (maps, router, attachments), start; until the maps hold all $WANT"
kill -9 "$(agent_pid)"
"$BIN/azds-controller" -i "$INST" purge >/dev/null 2>&1
t0=$(date +%s%N)
start_agent
run KB wait -i "$INST" --prefix kbn --want "$WANT" --t0-ns "$t0" --timeout-s 120
wait_for "agent synced" synced
log "status: $(cat "/run/azds/$INST/k8s/status.json")"
RSS2=$(rss)
log "agent RSS after the cold restart's list of $WANT services: $RSS2 kB"
RSS=$((RSS1 > RSS2 ? RSS1 : RSS2))
echo "RESULT agent_rss n=2 p50_ms=$RSS p99_ms=$RSS max_ms=$RSS min_ms=$RSS cmd=VmRSS of /proc/\$(cat /run/azds/$INST/controller.pid)/status (kB)" | tee -a "$RES"

log "after the cold restart: does kbsp's HTTP ClusterIP still serve (a check, not a figure)?"
out=$(kc exec -n kbsp client -- azds-load --target "$SW:80" --new-conn --rate 0 --connections "$CONNS" --duration 2 \
	--warmup 0 -o json 2>/dev/null) || true
log "kbsp web after the restart: $(jq -c '{requests, errors, achieved_rps}' <<<"$out" 2>/dev/null || echo "$out")"

# ------------------------------------------------------------------ table
get() { # get NAME FIELD
	awk -v n="$1" -v f="$2" '$1 == "RESULT" && $2 == n { for (i = 3; i <= NF; i++) if (index($i, f "=") == 1) { print substr($i, length(f) + 2); exit } }' "$RES"
}
nonzero() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
row() { # row LABEL NAME FIELD TARGET_OP TARGET UNIT
	local v
	v=$(get "$2" "$3")
	if [ -z "$v" ] || ! nonzero "$v"; then
		printf '| %s | %s | %s %s | MISSING |\n' "$1" "${v:-none}" "$4" "$5"
		bad=1
		return
	fi
	local ok
	ok=$(awk -v v="$v" -v t="$5" -v op="$4" 'BEGIN { print (op == "<" ? v < t : v > t) ? "met" : "MISSED" }')
	if [ "$4" = - ]; then
		printf '| %s | %.2f %s | (the target is on %s) | |\n' "$1" "$v" "$6" "$([ "$3" = p50_ms ] && echo p99 || echo p50)"
		return
	fi
	printf '| %s | %.2f %s | %s %s %s | %s |\n' "$1" "$v" "$6" "$4" "$5" "$6" "$ok"
}
echo
echo "## Summary ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores; rounds $ROUNDS)"
echo
echo "| measure | value | target | |"
echo "| --- | --- | --- | --- |"
row "namespace labelled until it routes, p50" label_to_route p50_ms - 100 ms
row "namespace labelled until it routes, p99" label_to_route p99_ms "<" 100 ms
row "namespace unlabelled until it is gone, p99" unlabel_to_gone p99_ms "<" 100 ms
row "Service created until its ClusterIP is in vips, p50" service_to_vip p50_ms - 50 ms
row "Service created until its ClusterIP is in vips, p99" service_to_vip p99_ms "<" 50 ms
row "EndpointSlice created until in backends, p99" slice_to_backends p99_ms "<" 50 ms
row "endpoint changed until in backends, p50" endpoint_change_to_backends p50_ms - 50 ms
row "endpoint changed until in backends, p99" endpoint_change_to_backends p99_ms "<" 50 ms
row "with $WANT Services: Service created until in vips, p99" scale_service_to_vip p99_ms "<" 50 ms
row "with $WANT Services: endpoint changed until in backends, p99" scale_endpoint_change_to_backends p99_ms "<" 50 ms
row "$WANT Services: agent restart (kill -9, maps kept) until status.json says synced" restart_warm_synced p50_ms "<" 2000 ms
row "$WANT Services: cold restart (purged) until all in the maps" restart_all_services p50_ms "<" 2000 ms
row "CNI ADD in a space's namespace, p50" add-kbcs p50_ms "<" 20 ms
row "CNI ADD in a space's namespace, p99" add-kbcs p99_ms - 20 ms
row "CNI ADD in a plain namespace, p50" add-kbcp p50_ms "<" 20 ms
row "agent RSS with $WANT Services" agent_rss p50_ms "<" 51200 kB
echo
echo "| ClusterIP, node-1 to node-2 | azds | kube-proxy iptables | kube-proxy nftables | azds / iptables | azds / nftables |"
echo "| --- | --- | --- | --- | --- | --- |"
cmp_row() { # cmp_row LABEL PREFIX KIND FIELD UNIT BETTER(lower|higher)
	local a i n
	a=$(get "$2_azds_$3" "$4") i=$(get "$2_iptables_$3" "$4") n=$(get "$2_nftables_$3" "$4")
	for v in "$a" "$i" "$n"; do
		if [ -z "$v" ] || ! nonzero "$v"; then bad=1; fi
	done
	awk -v l="$1" -v a="${a:-0}" -v i="${i:-0}" -v n="${n:-0}" -v u="$5" -v b="$6" 'BEGIN {
		ri = i > 0 ? a / i : 0; rn = n > 0 ? a / n : 0
		ahead = (b == "lower") ? (a < i && a < n) : (a > i && a > n)
		printf "| %s | %.2f %s | %.2f %s | %.2f %s | %.2f | %.2f |%s\n", l, a, u, i, u, n, u, ri, rn,
			ahead ? "" : " (azds not ahead)"
	}'
}
cmp_row "TCP Service, p50 at $RATE conn/s" lat tcp p50_ms ms lower
cmp_row "TCP Service, p99 at $RATE conn/s" lat tcp p99_ms ms lower
cmp_row "TCP Service, connections/s (closed loop, $CONNS connections)" max tcp p50_ms /s higher
cmp_row "HTTP Service, p50 at $RATE conn/s" lat http p50_ms ms lower
cmp_row "HTTP Service, p99 at $RATE conn/s" lat http p99_ms ms lower
cmp_row "HTTP Service, connections/s (closed loop, $CONNS connections)" max http p50_ms /s higher
echo
echo "Commands (\$S: the cluster's state dir, /run/azds-k8s-kbench):"
awk '$1 == "RESULT" { c = $0; sub(/.* cmd=/, "", c); if (!(c in seen)) { seen[c] = 1; print "- `" c "`" } }' "$RES"
echo
errs=$(awk '$1 == "RESULT" { for (i = 3; i <= NF; i++) if ($i ~ /^errors=/ && $i != "errors=0") print $2, $i }' "$RES")
# failed requests through azds fail the run; kube-proxy's own (it drops
# some while it reprograms its rules) are printed beside its figures
ours=$(grep -E '^(lat|max)_azds_' <<<"$errs" || true)
[ -z "$errs" ] || echo "requests with errors: $errs"
[ -z "$ours" ] || { echo "k8s.sh: requests through azds failed: $ours"; bad=1; }
cp "$RES" "/tmp/azds-kbench-results.txt"
echo "results: /tmp/azds-kbench-results.txt"
[ "$bad" = 0 ] || { echo "k8s.sh: a figure is missing or zero, or a step failed" >&2; exit 1; }
