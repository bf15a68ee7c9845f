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
#      same cluster, through a TCP Service and two HTTP ones (nginx, which
#      keeps connections alive, and busybox httpd, which closes after each
#      response), the same backend pods for all, in interleaved rounds
#      (the median of each contender is compared, the spread is printed)
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
# KBENCH_CLUSTERIP_ROUNDS (3: rounds of 6, each contender once per round),
# KBENCH_RATE (fixed rate, connections/s, 200), KBENCH_DURATION (s, 6),
# KBENCH_CONNS (closed loop connections, 4), KBENCH_MAX_DURATION (closed
# loop, s, 4), KBENCH_KEEP=1 (leave the cluster up). In each round each
# contender's loads come from a client pod of their own (a fresh address,
# so no tuple of an earlier load, the backends' TIME_WAIT or node-1's
# conntrack entries, is met again, and no wait between modes is needed);
# one Service's two loads make at most ~25,000 connections, within the
# pod's 32,000 even ephemeral ports (connect()'s half of 1024-65000).
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
DUR=${KBENCH_DURATION:-6}
CONNS=${KBENCH_CONNS:-4}
MAXDUR=${KBENCH_MAX_DURATION:-4}
CROUNDS=${KBENCH_CLUSTERIP_ROUNDS:-3}
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

# kube-proxy is stopped by the pid it was started with (if that pid is
# still a kube-proxy: a crashed earlier run's may be long gone), and its
# rules go
stop_kube_proxy() {
	local pid
	pid=$(cat "$KPPID" 2>/dev/null || true)
	if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '/kube-proxy '; then
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

# A crashed earlier run's kube-proxy, cluster, instance and files go first.
stop_kube_proxy
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
# the backends' nginx: Debian's (nginx-light, scripts/install-deps.sh),
# its binary and libraries copied into the image, with this config
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "k8s.sh: no nginx (apt-get install nginx-light)" >&2; exit 2; }
cat >"$TMP/nginx.conf" <<'CONF'
daemon off;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events {}
http {
	access_log off;
	client_body_temp_path /tmp/nginx-body;
	proxy_temp_path /tmp/nginx-proxy;
	fastcgi_temp_path /tmp/nginx-fastcgi;
	uwsgi_temp_path /tmp/nginx-uwsgi;
	scgi_temp_path /tmp/nginx-scgi;
	server {
		listen 8082;
		root /www;
	}
}
CONF
echo hello >"$TMP/index.html"
"$ROOT/tests/k8s/image.sh" -b -o "$TMP/kbench.tar" -n "$IMG" -A "$BIN/azds-load:/usr/bin/azds-load" \
	-A "$NGINX:/usr/sbin/nginx" -a "$TMP/nginx.conf:/etc/kbench/nginx.conf" -a "$TMP/index.html:/www/index.html" -c '["/bin/sh"]'
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
log "6. ClusterIP latency and connections/s: azds (kbsp, labelled) vs kube-proxy (kbpl, unlabelled),"
log "   $CROUNDS interleaved rounds, the contenders' order rotated each round; clients on node-1, the same two"
log "   backend pods on node-2 (kbbe) for all: nginx (keep-alive, 8082) and busybox httpd (closes after each"
log "   response, 8080); azds-load --new-conn from a fresh client pod per contender and round"
# Every Service is selectorless and gets an EndpointSlice of the bench's
# own naming kbbe's two pods, in kbsp and kbpl alike: the same backends,
# the same way in. kbsp's carry service-proxy-name, so kube-proxy leaves
# them alone.
clients() { # clients NS PREFIX: probe (checks) and PREFIX1..PREFIXn (load)
	local r names=probe
	for r in $(seq "$CROUNDS"); do names="$names $2$r"; done
	for r in $names; do
		cat <<YAML
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "$r", "namespace": "$1"},
  "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 0,
  "securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}]},
  "containers": [{"name": "c", "image": "$IMG", "imagePullPolicy": "Never", "command": ["sleep", "36000"]}]}},
YAML
	done
}
mkservices() { # mkservices NS PROXYLABEL
	local lab='' s
	[ "$2" = yes ] && lab='"service.kubernetes.io/service-proxy-name": "azds-bench",'
	# NAME PORT PORTNAME TARGETPORT: web (nginx), webc (busybox httpd), tcp (nginx, plain TCP)
	for s in "web 80 http 8082" "webc 80 http 8080" "tcp 7000 tcp-web 8082"; do
		set -- "$1" $s
		cat <<YAML
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "$2", "namespace": "$1", "labels": {$lab "x": "y"}},
  "spec": {"ports": [{"name": "$4", "port": $3, "targetPort": $5}]}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "$2-kb", "namespace": "$1",
  "labels": {"kubernetes.io/service-name": "$2", "endpointslice.kubernetes.io/managed-by": "azds-bench"}},
  "addressType": "IPv4", "ports": [{"name": "$4", "port": $5, "protocol": "TCP"}],
  "endpoints": [{"addresses": ["$B1"], "conditions": {"ready": true}}, {"addresses": ["$B2"], "conditions": {"ready": true}}]},
YAML
	done
}
kc apply -f - >/dev/null <<'YAML'
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kbsp", "labels": {"azds.io/space": "true"}}}
YAML
kc create namespace kbpl >/dev/null
kc create namespace kbbe >/dev/null
sa() { kc get serviceaccount -n "$1" default; }
for ns in kbsp kbpl kbbe; do wait_for "$ns's ServiceAccount" sa "$ns"; done
# nginx as a user runs it: Debian's binary, master and one worker, not
# root, keep-alive (nginx's defaults: 75 s, 1,000 requests), no access log
backend() {
	cat <<YAML
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "$1", "namespace": "kbbe", "labels": {"app": "web"}},
  "spec": {"nodeName": "node-2", "terminationGracePeriodSeconds": 0, "containers": [
   {"name": "httpd", "image": "$IMG", "imagePullPolicy": "Never", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]},
   {"name": "nginx", "image": "$IMG", "imagePullPolicy": "Never", "securityContext": {"runAsUser": 65534, "runAsGroup": 65534},
    "command": ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/kbench/nginx.conf"]}]}}
YAML
}
{
	echo '{"apiVersion": "v1", "kind": "List", "items": ['
	clients kbsp a
	clients kbpl i
	clients kbpl n
	backend b1
	echo ','
	backend b2
	echo ']}'
} | sed -z 's/},\n\]}/}\n]}/' | kc apply -f - >/dev/null
running() { [ "$(kc get pod -n "$1" "$2" -o jsonpath='{.status.phase}')" = Running ]; }
pods="kbbe/b1 kbbe/b2 kbsp/probe kbpl/probe"
for r in $(seq "$CROUNDS"); do pods="$pods kbsp/a$r kbpl/i$r kbpl/n$r"; done
for p in $pods; do wait_for "pod $p" running "${p%/*}" "${p#*/}"; done
pip() { kc get pod -n kbbe "$1" -o jsonpath='{.status.podIP}'; }
B1=$(pip b1) B2=$(pip b2)
log "backends: b1 $B1, b2 $B2"
{
	echo '{"apiVersion": "v1", "kind": "List", "items": ['
	mkservices kbsp yes
	mkservices kbpl no
	echo ']}'
} | sed -z 's/},\n\]}/}\n]}/' | kc apply -f - >/dev/null
cip() { kc get svc -n "$1" "$2" -o jsonpath='{.spec.clusterIP}'; }
SW=$(cip kbsp web) SC=$(cip kbsp webc) ST=$(cip kbsp tcp) PW=$(cip kbpl web) PC=$(cip kbpl webc) PT=$(cip kbpl tcp)
dump() { AZDS_INSTANCE=$INST "$BIN/azds-controller" k8s-dump; }
two_backends() { dump | grep -Eq "^service kbsp $1 .* [0-9.]+ [0-9.]+$"; }
for s in web webc tcp; do wait_for "kbsp $s's backends" two_backends "$s"; done
# serves NS IP PORT: requests from the namespace's probe pod get the page
serves() { kc exec -n "$1" probe -- azds-load --target "$2" --rate 20 --duration 0.5 --warmup 0 --new-conn -o json 2>/dev/null |
	grep -q '"errors":0,'; }
n1_sysctl() { "$CL" exec 1 cat "/proc/sys/net/$1" 2>/dev/null || echo -; }
log "node-1: nf_conntrack_max $(n1_sysctl netfilter/nf_conntrack_max), tcp_tw_reuse $(n1_sysctl ipv4/tcp_tw_reuse), ip_local_port_range $(n1_sysctl ipv4/ip_local_port_range | tr '\t' ' ')"

# load NAME NS POD TARGET: fixed rate (latency) and closed loop (maximum),
# --new-conn; failed requests are kept in the RESULT line (errors=N).
# --drain-ms 0: the client closes as soon as it has the response, as curl,
# browsers and most HTTP clients do (azds-load's default waits for the
# server's FIN, and the router in this mode waits for the client's: each
# would stand the other off); the client pod's wide port range holds the
# TIME_WAIT that this leaves on the client's side.
load() {
	local name=$1 ns=$2 pod=$3 t=$4 out c
	c="kubectl exec -n $ns CLIENT -- azds-load --target $t --new-conn --drain-ms 0 --rate $RATE --duration $DUR --connections 64 --timeout-ms 2000"
	out=$(kc exec -n "$ns" "$pod" -- azds-load --target "$t" --new-conn --drain-ms 0 --rate "$RATE" --duration "$DUR" \
		--connections 64 --timeout-ms 2000 -o json 2>"$TMP/load.err") || cat "$TMP/load.err"
	echo "$name ($pod): $out" >>"$TMP/load.json"
	jq -e -r --arg n "$name" --arg c "$c" \
		'"RESULT lat_\($n) n=\(.requests) p50_ms=\(.p50_us / 1000) p99_ms=\(.p99_us / 1000) max_ms=\(.max_us / 1000) min_ms=0 errors=\(.errors) cmd=\($c)"' \
		<<<"$out" >>"$RES" || { echo "k8s.sh: $c: no result" >&2; bad=1; }
	jq -r --arg n "$name" '"#   \($n): \(.requests) at \(.achieved_rps | floor)/s, p50 \(.p50_us | round / 1000) ms, p99 \(.p99_us | round / 1000) ms, errors \(.errors)"' <<<"$out" 2>/dev/null || true
	c="kubectl exec -n $ns CLIENT -- azds-load --target $t --new-conn --drain-ms 0 --rate 0 --connections $CONNS --duration $MAXDUR --timeout-ms 2000"
	out=$(kc exec -n "$ns" "$pod" -- azds-load --target "$t" --new-conn --drain-ms 0 --rate 0 --connections "$CONNS" \
		--duration "$MAXDUR" --timeout-ms 2000 -o json 2>"$TMP/load.err") || cat "$TMP/load.err"
	echo "$name ($pod, closed loop): $out" >>"$TMP/load.json"
	jq -e -r --arg n "$name" --arg c "$c" \
		'"RESULT max_\($n) n=\(.requests) p50_ms=\(.achieved_rps) p99_ms=\(.achieved_rps) max_ms=\(.achieved_rps) min_ms=\(.achieved_rps) errors=\(.errors) cmd=\($c)"' \
		<<<"$out" >>"$RES" || { echo "k8s.sh: $c: no result" >&2; bad=1; }
	jq -r --arg n "$name" '"#   \($n): closed loop \(.achieved_rps | floor)/s, p50 \(.p50_us | round / 1000) ms, errors \(.errors)"' <<<"$out" 2>/dev/null || true
}
# the three Services of one contender in one round
load_all() { # load_all CONTENDER ROUND NS POD WEB WEBC TCP
	load "$1_tcp_r$2" "$3" "$4" "$7:7000"
	load "$1_http_r$2" "$3" "$4" "$5:80"
	load "$1_httpc_r$2" "$3" "$4" "$6:80"
}
kp_checked=''
kube_proxy() { # kube_proxy ROUND MODE
	local mode=$2 pod rules
	pod=${mode:0:1}$1
	log "round $1: kube-proxy --proxy-mode $mode on node-1 (load $(cut -d' ' -f1-3 /proc/loadavg))"
	"$CL" exec 1 sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$KPPID" "$KP" --kubeconfig "$KUBECONFIG" \
		--hostname-override node-1 --proxy-mode "$mode" --cluster-cidr 10.202.0.0/16 \
		--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
		--iptables-localhost-nodeports=false --metrics-bind-address 127.0.0.1:10249 \
		--healthz-bind-address 127.0.0.1:10256 >>"$TMP/kube-proxy-$mode.log" 2>&1 &
	wait_for "kube-proxy $mode serves web" serves kbpl "$PW:80"
	wait_for "kube-proxy $mode serves webc" serves kbpl "$PC:80"
	wait_for "kube-proxy $mode serves tcp" serves kbpl "$PT:7000"
	case " $kp_checked " in
	*" $mode "*) ;;
	*)
		if [ $mode = iptables ]; then rules=$("$CL" exec 1 iptables-save -t nat); else rules=$("$CL" exec 1 nft list table ip kube-proxy); fi
		for ip in "$SW" "$SC" "$ST"; do
			if grep -q -- "$ip" <<<"$rules"; then
				echo "k8s.sh: kube-proxy ($mode) programmed $ip, which is azds's" >&2
				bad=1
			fi
		done
		kp_checked="$kp_checked $mode"
		;;
	esac
	load_all "$mode" "$1" kbpl "$pod" "$PW" "$PC" "$PT"
	stop_kube_proxy
	if serves kbpl "$PW:80"; then echo "k8s.sh: kube-proxy's $mode rules outlived it" >&2; bad=1; fi
}

wait_for "azds serves web" serves kbsp "$SW:80"
wait_for "azds serves webc" serves kbsp "$SC:80"
wait_for "azds serves tcp" serves kbsp "$ST:7000"
if serves kbpl "$PW:80"; then echo "k8s.sh: kbpl's ClusterIP answers with no kube-proxy" >&2; bad=1; fi
: >"$TMP/load.json"
order=(azds iptables nftables)
t6=$(date +%s)
for r in $(seq "$CROUNDS"); do
	for c in "${order[@]}"; do
		if [ "$c" = azds ]; then
			log "round $r: azds, kube-proxy not running (load $(cut -d' ' -f1-3 /proc/loadavg))"
			load_all azds "$r" kbsp "a$r" "$SW" "$SC" "$ST"
			# the router's upstreams to nginx that the pool keeps open (a
			# handful, against thousands of requests: the pool is in use)
			log "round $r: node-1's established connections to nginx (the router's pool): $("$CL" exec 1 ss -Htn state established "( dport = :8082 )" | wc -l)"
		else
			kube_proxy "$r" "$c"
		fi
	done
	order=("${order[@]:1}" "${order[0]}")
	log "round $r done; node-1 conntrack entries: $(n1_sysctl netfilter/nf_conntrack_count)"
done
log "ClusterIP rounds took $(($(date +%s) - t6)) s; every load's JSON: $TMP/load.json (kept as /tmp/azds-kbench-load.json)"
cp "$TMP/load.json" /tmp/azds-kbench-load.json

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
out=$(kc exec -n kbsp probe -- azds-load --target "$SW:80" --new-conn --drain-ms 0 --rate 0 --connections "$CONNS" --duration 2 \
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
# vals PREFIX CONTENDER KIND FIELD: the figure of each round, "-" where
# it is missing or zero
vals() {
	local r v
	for r in $(seq "$CROUNDS"); do
		v=$(get "$1_$2_$3_r$r" "$4")
		if [ -n "$v" ] && nonzero "$v"; then printf '%s ' "$v"; else printf -- '- '; fi
	done
}
echo "| ClusterIP, node-1 to node-2: median of $CROUNDS rounds (min-max) | azds | kube-proxy iptables | kube-proxy nftables | azds / iptables | azds / nftables | rounds azds ahead of both |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
cmp_row() { # cmp_row LABEL PREFIX KIND FIELD UNIT BETTER(lower|higher)
	local a i n
	a=$(vals "$2" azds "$3" "$4") i=$(vals "$2" iptables "$3" "$4") n=$(vals "$2" nftables "$3" "$4")
	case "$a$i$n" in *-*) bad=1 ;; esac
	awk -v l="$1" -v a="$a" -v i="$i" -v n="$n" -v u="$5" -v b="$6" '
	function med(s, v, k, m, j, t) {
		m = split(s, v, " ")
		for (k = 1; k <= m; k++) if (v[k] == "-") return 0 # missing in a round: shown as such
		for (k = 2; k <= m; k++) for (j = k; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		lo = v[1]; hi = v[m]
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	function cell(x, l0, h0) { return x == 0 ? "MISSING" : sprintf(u == "ms" ? "%.2f ms (%.2f-%.2f)" : "%.0f /s (%.0f-%.0f)", x, l0, h0) }
	function better(x, y) { return b == "lower" ? x < y : x > y }
	BEGIN {
		ma = med(a); la = lo; ha = hi
		mi = med(i); li = lo; hi_ = hi
		mn = med(n); ln = lo; hn = hi
		split(a, va, " "); split(i, vi, " "); m = split(n, vn, " "); ahead = 0
		for (k = 1; k <= m; k++) if (va[k] != "-" && vi[k] != "-" && vn[k] != "-" && better(va[k] + 0, vi[k] + 0) && better(va[k] + 0, vn[k] + 0)) ahead++
		printf "| %s | %s | %s | %s | %.2f | %.2f | %d of %d%s |\n", l, cell(ma, la, ha), cell(mi, li, hi_), cell(mn, ln, hn),
			(mi > 0 ? ma / mi : 0), (mn > 0 ? ma / mn : 0), ahead, m,
			(better(ma, mi) && better(ma, mn)) ? "" : " (azds not ahead at the median)"
	}'
}
cmp_row "TCP Service (nginx), p50 at $RATE conn/s" lat tcp p50_ms ms lower
cmp_row "TCP Service (nginx), p99 at $RATE conn/s" lat tcp p99_ms ms lower
cmp_row "TCP Service (nginx), connections/s (closed loop, $CONNS connections)" max tcp p50_ms /s higher
cmp_row "HTTP Service, nginx (keep-alive), p50 at $RATE conn/s" lat http p50_ms ms lower
cmp_row "HTTP Service, nginx (keep-alive), p99 at $RATE conn/s" lat http p99_ms ms lower
cmp_row "HTTP Service, nginx (keep-alive), connections/s (closed loop, $CONNS connections)" max http p50_ms /s higher
cmp_row "HTTP Service, busybox httpd (closes after each response), p50 at $RATE conn/s" lat httpc p50_ms ms lower
cmp_row "HTTP Service, busybox httpd (closes after each response), p99 at $RATE conn/s" lat httpc p99_ms ms lower
cmp_row "HTTP Service, busybox httpd (closes after each response), connections/s (closed loop, $CONNS connections)" max httpc p50_ms /s higher
echo
echo "Each round (in the order run; p50 at $RATE conn/s, closed-loop connections/s):"
echo
echo "| round | contender | TCP p50 | TCP conn/s | HTTP nginx p50 | HTTP nginx conn/s | HTTP busybox p50 | HTTP busybox conn/s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
order=(azds iptables nftables)
for r in $(seq "$CROUNDS"); do
	for c in "${order[@]}"; do
		printf '| %s | %s |' "$r" "$c"
		for k in tcp http httpc; do
			printf ' %s ms | %s /s |' "$(get "lat_${c}_${k}_r$r" p50_ms | awk '{ printf "%.2f", $1 }')" \
				"$(get "max_${c}_${k}_r$r" p50_ms | awk '{ printf "%.0f", $1 }')"
		done
		echo
	done
	order=("${order[@]:1}" "${order[0]}")
done
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
