#!/bin/bash
# SPDX-License-Identifier: MIT
# azds bench: the data-plane benchmark, in one run so ratios hold on a noisy
# machine. Builds its own topology in network namespaces, measures every
# contender against the same servers, tears everything down, and reports.
#
#   direct      client pod -> server pod address (no azds: the floor)
#   azds        client pod -> service address: TC steering + azds-router, with
#               the defaults (sk_msg/sockmap redirection on both ways)
#   azds-nopods the same with sockmap-pods off (the router's own sends to pods
#               through the TCP stack; only the pods' sends redirected)
#   azds-stack  the same with sockmap switched off (everything via the TCP stack)
#   devspaces   iptables REDIRECT in the client pod -> azds-router as a sidecar
#               in that pod (the Dev Spaces sidecar-era path)
#   haproxy     Debian's HAProxy (1 thread) routing on azds-route-as
#   nginx       Debian's nginx (1 worker) routing on azds-route-as with a map
#   azds-w1     azds at maximum throughput with one router event loop, and
#   azds-wN     with one per CPU (--workers), all open to new connections
#               (--spread-busy 0)
#   plain TCP   iperf3 and connections/s: direct vs the kernel balancer
#
# Every proxy runs alone in a cgroup; its CPU is the cgroup's usage_usec over
# the measured window (all its processes and threads), its memory the summed
# RSS of the cgroup's processes: never a wrapper's pid.
#
# Every HTTP request carries azds-route-as: alice and must be answered by
# alice's copy of the service (checked before measuring).
set -uo pipefail

usage() {
	cat <<EOF
usage: azds bench [--duration SEC] [--rounds N] [--rates "R1 R2"] [--quick] [-o table|json]
                  [--plot FILE.png] [--keep-raw DIR] [--bin DIR] [--instance NAME]

  --duration SEC   seconds per measurement (default 10; --quick: 3)
  --rounds N       rounds of the proxies' measurements, interleaved: each round
                   measures every contender once per load, the order turned by
                   three places each round; the tables give each figure's
                   median over the rounds (default 3; --quick: 1; 1-9)
  --rates "..."    open-loop request rates for the latency runs (default "1000 10000")
  -o json          one JSON document instead of tables
  --plot FILE.png  draw the latency percentiles of every contender (gnuplot)
  --keep-raw DIR   keep every raw result (JSON lines) in DIR
  --instance NAME  the azds instance it builds and removes (default "bench";
                   one of its own, so that parallel runs do not collide)
Runs as root; takes about 25 minutes with the defaults (--quick: about 4).
EOF
}

HERE=$(cd "$(dirname "$0")" && pwd)
B=${AZDS_BIN:-$HERE/../build/bin}
DUR=10
ROUNDS=""
RATES="1000 10000"
OUT=table
PLOT=""
RAW=""
I=bench
FAILED=0 # measurements that produced no figure
ROUND=1   # the round each result is recorded under
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DUR=${2:?}; shift 2 ;;
	--rates) RATES=${2:?}; shift 2 ;;
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--quick) DUR=3; ROUNDS=${ROUNDS:-1}; shift ;;
	-o) OUT=${2:?}; shift 2 ;;
	--plot) PLOT=${2:?}; shift 2 ;;
	--keep-raw) RAW=${2:?}; shift 2 ;;
	--bin) B=${2:?}; shift 2 ;;
	--instance) I=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "azds bench: unknown option \"$1\" (see --help)" >&2; exit 2 ;;
	esac
done
[[ "$I" =~ ^[a-z0-9]{1,12}$ ]] || { echo "azds bench: --instance: 1-12 characters of a-z and 0-9" >&2; exit 2; }
case "$OUT" in table | json) ;; *) echo "azds bench: -o must be table or json" >&2; exit 2 ;; esac
[[ "$DUR" =~ ^[0-9]+$ ]] && [ "$DUR" -ge 1 ] || { echo "azds bench: --duration must be a whole number of seconds >= 1" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
[[ "$ROUNDS" =~ ^[1-9]$ ]] || { echo "azds bench: --rounds must be a whole number from 1 to 9" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "azds bench: must run as root" >&2; exit 1; }
B=$(cd "$B" 2>/dev/null && pwd) || { echo "azds bench: no build at $B (run scripts/build.sh)" >&2; exit 1; }
for t in azds-controller azds-init azds-router azds-load azds-idle podserver azds-probe azds-scale azds-ctlbench azds-restart azds; do
	[ -x "$B/$t" ] || { echo "azds bench: $B/$t is missing (run scripts/build.sh)" >&2; exit 1; }
done
for t in haproxy nginx iperf3 iptables; do
	command -v $t >/dev/null || PATH=$PATH:/usr/sbin:/sbin
	command -v $t >/dev/null || { echo "azds bench: $t is missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

# 10,000 idle connections through each proxy need room for descriptors;
# where the hard limit cannot be raised, HAProxy (two per connection in its
# own accounting) is measured with fewer, and the report says how many
ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FDMAX=$(ulimit -n)
HAPROXY_MAXCONN=$(((FDMAX - 200) / 2))
[ "$HAPROXY_MAXCONN" -gt 40000 ] && HAPROXY_MAXCONN=40000
HAPROXY_IDLE=$((HAPROXY_MAXCONN - 100))
[ "$HAPROXY_IDLE" -gt 10000 ] && HAPROXY_IDLE=10000

CTL="$B/azds-controller -i $I"
INIT="$B/azds-init -i $I"
NODE=azds-$I-node
# one fixed work directory: a crashed earlier run's is replaced, not kept
W=/tmp/azds-bench-$I
rm -rf "$W" && mkdir -p "$W" || exit 1
RES=$W/results.jsonl
PIDS=()
log() { [ "$OUT" = table ] && printf '%s\n' "$*" >&2; return 0; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	$CTL stop >/dev/null 2>&1
	[ -n "$RAW" ] && mkdir -p "$RAW" && cp "$W"/*.jsonl "$W"/*.conf "$W"/*.log "$RAW"/ 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- topology --------------------------------------------------------------------
log "azds bench: building the topology (instance \"$I\")"
$CTL stop >/dev/null 2>&1
$CTL start >/dev/null || exit 1
$CTL space add dev >/dev/null && $CTL space add dev/alice >/dev/null || exit 1
$CTL service add dev api --port 80 --target-port 8080 >/dev/null || exit 1
$CTL service add dev/alice api --port 80 --target-port 8080 >/dev/null || exit 1
$CTL service add dev bulk --kind tcp --port 5201 --target-port 5201 >/dev/null || exit 1
$CTL service add dev plain --kind tcp --port 8080 --target-port 8080 >/dev/null || exit 1
add_pod() { $INIT add --pod "$1" --space "$2" ${3:+--service "$3"} ${4:+--service "$4"} >/dev/null || exit 1; }
add_pod api-dev dev api
add_pod api-alice dev/alice api
add_pod bulk-dev dev bulk plain
add_pod client dev/alice
add_pod client-ds dev/alice
bg_in_pod() { # POD LOG CMD...: start in the pod, remember the pid
	local pod=$1 logf=$2
	shift 2
	$INIT exec --pod "$pod" -- "$@" >"$logf" 2>&1 &
	PIDS+=($!)
}
bg_in_pod api-dev "$W/api-dev.log" "$B/podserver" --quiet --pod api-dev --space dev --service api --listen 0.0.0.0:8080
bg_in_pod api-alice "$W/api-alice.log" "$B/podserver" --quiet --pod api-alice --space dev/alice --service api --listen 0.0.0.0:8080
bg_in_pod bulk-dev "$W/plain.log" "$B/podserver" --quiet --pod bulk-dev --space dev --service plain --listen 0.0.0.0:8080
bg_in_pod bulk-dev "$W/iperf.log" iperf3 -s -p 5201

addr() { $CTL pod list | awk -v p="$1" '$1 == p { print $2 }'; }
vip() { "$B/azds" -i $I list-uris --addresses | awk -v n="$1" '$1 == n { sub(".*://", "", $2); print $2 }'; }
ALICE=$(addr api-alice)
DEV=$(addr api-dev)
BULK=$(addr bulk-dev)
API_VIP=$(vip api)
BULK_VIP=$(vip bulk)
PLAIN_VIP=$(vip plain)
GW=169.254.1.1

# The proxies under test run each in its own cgroup of the instance, so that
# a stop after a crashed (even SIGKILLed) earlier run ends them with the rest,
# and so that what is measured is the proxy's own processes: the pid that
# "cmd &" gives is a subshell's, and haproxy or nginx may fork or thread.
# ('_' starts no pod name; stop removes every cgroup under the instance's.)
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || { echo "azds bench: no cgroup v2 hierarchy is mounted" >&2; exit 1; }
proxy_cg() { mkdir -p "$CG2/azds-$I/_bench-$1" && echo "$CG2/azds-$I/_bench-$1"; }
SIDECAR_CG=$(proxy_cg sidecar) && HAPROXY_CG=$(proxy_cg haproxy) && NGINX_CG=$(proxy_cg nginx) || exit 1
in_cg() { sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$@"; } # CGROUP CMD...
# cg_of PID: the cgroup v2 directory a process is in
cg_of() { local p; p=$(sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null) && [ -n "$p" ] && echo "$CG2$p"; }

# The load generators open ~11,000 connections per new-connection run, several
# runs to the same service address; the client closes first, so without
# reuse of its TIME_WAIT ports the later runs exhaust the port range and
# measure connect() stalls, not the proxy (one client pod's choice, in the
# bench's own namespaces)
for p in client client-ds; do
	ip netns exec azds-$I-p-$p sysctl -qw net.ipv4.tcp_tw_reuse=1 || exit 1
done

# the sidecar-era path: REDIRECT in the client pod to a router inside it
ip netns exec azds-$I-p-client-ds iptables -t nat -A OUTPUT -p tcp -d "${API_VIP%:*}" --dport 80 \
	-j REDIRECT --to-ports 15002 || exit 1
# (--netns, not ip netns exec: the router opens the pinned maps before entering)
in_cg "$SIDECAR_CG" "$B/azds-router" --instance $I --netns azds-$I-p-client-ds --redirect-mode --port 15002 \
	>"$W/sidecar.log" 2>&1 &
PIDS+=($!)

cat >"$W/haproxy.conf" <<EOF
global
	maxconn $HAPROXY_MAXCONN
	nbthread 1
defaults
	mode http
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	option http-keep-alive
frontend fe
	bind $GW:18081
	acl alice req.hdr(azds-route-as) -m str alice
	use_backend be_alice if alice
	default_backend be_dev
backend be_dev
	http-reuse always
	server s1 $DEV:8080
backend be_alice
	http-reuse always
	server s1 $ALICE:8080
EOF
in_cg "$HAPROXY_CG" ip netns exec $NODE haproxy -f "$W/haproxy.conf" -db >"$W/haproxy.log" 2>&1 &
PIDS+=($!)

cat >"$W/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $W/nginx.pid;
error_log $W/nginx.err warn;
worker_rlimit_nofile $FDMAX;
events { worker_connections $((FDMAX - 100)); }
http {
	access_log off;
	map \$http_azds_route_as \$be { default dev; alice alice; }
	upstream dev { server $DEV:8080; keepalive 64; }
	upstream alice { server $ALICE:8080; keepalive 64; }
	server {
		listen $GW:18082 backlog=4096;
		location / {
			proxy_pass http://\$be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
in_cg "$NGINX_CG" ip netns exec $NODE nginx -c "$W/nginx.conf" -p "$W" >"$W/nginx.log" 2>&1 &
PIDS+=($!)
# the node's router: the controller starts it in a cgroup of its own
ROUTER_CG=$(cg_of "$(cat /run/azds/$I/router.pid)") || { echo "azds bench: the router's cgroup not found" >&2; exit 1; }

# wait until every path answers, and answers from alice's pod
probe_ok() { # POD TARGET
	local r
	r=$($INIT exec --pod "$1" -- "$B/azds-probe" get "$2" / -H 'azds-route-as: alice' --timeout 2 2>&1)
	case "$r" in *"pod=api-alice"*) return 0 ;; esac
	return 1
}
for target in "client $ALICE:8080" "client $API_VIP" "client-ds $API_VIP" "client $GW:18081" "client $GW:18082"; do
	set -- $target
	for i in $(seq 1 100); do probe_ok "$1" "$2" && break; sleep 0.1; done
	probe_ok "$1" "$2" || { echo "azds bench: $2 (from $1) does not reach alice's api" >&2; exit 1; }
done
for cg in "$SIDECAR_CG" "$HAPROXY_CG" "$NGINX_CG" "$ROUTER_CG"; do
	grep -q . "$cg/cgroup.procs" || { echo "azds bench: no process in $cg" >&2; exit 1; }
done

# ---- measurements ---------------------------------------------------------------------
# rss_kb CGROUP: the summed RSS of the cgroup's processes (threads share theirs)
rss_kb() {
	local p r t=0 n=0
	while read -r p; do
		r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$r" ] && t=$((t + r)) && n=$((n + 1))
	done <"$1/cgroup.procs"
	[ "$n" -gt 0 ] && echo "$t"
}

# load NAME POD TARGET MODE RATE [PROXY-CGROUP [EXTRA-JSON]]: one azds-load run,
# appended to $RES. The proxy's CPU is read by azds-load itself as its
# measured window opens and closes (the warm-up is not charged), from the
# cgroup's cpu.stat passed open on descriptor 7: the pod's mount namespace
# has its own /sys.
load() {
	local name=$1 pod=$2 target=$3 mode=$4 rate=$5 cg=${6:-} extra=${7:-'{}'} args out
	args=(--target "$target" -H 'azds-route-as: alice' --duration "$DUR" --warmup 1 -o json)
	case "$mode" in
	keepalive) args+=(--rate "$rate" --connections 16) ;;
	newconn) args+=(--rate "$rate" --new-conn --connections 256) ;;
	max) args+=(--rate 0 --connections 32) ;;
	esac
	if [ -n "$cg" ]; then
		out=$($INIT exec --pod "$pod" -- "$B/azds-load" "${args[@]}" --cpu-stat-fd 7 2>"$W/load.err" 7<"$cg/cpu.stat")
	else
		out=$($INIT exec --pod "$pod" -- "$B/azds-load" "${args[@]}" 2>"$W/load.err")
	fi
	if [ -z "$out" ]; then
		echo "azds bench: $name $mode $rate failed: $(cat "$W/load.err")" >&2
		FAILED=$((FAILED + 1))
		return
	fi
	# proxy_cpu_s is null where there is no proxy, and where it could not be read
	echo "$out" | jq -c --arg c "$name" --arg m "$mode" --argjson r "$rate" --argjson x "$extra" --argjson n "$ROUND" \
		'{contender: $c, mode: $m, rate: $r, round: $n, proxy_cpu_s: (if .cpu_us then .cpu_us / 1e6 else null end),
		  load: .} + $x' >>"$RES"
	log "  $(printf '%-13s %-9s %6s' "$name" "$mode" "$rate") $(echo "$out" | jq -r '"p50 \(.p50_us) us  p99 \(.p99_us) us"')"
}

# one contender's run; sockmap only for azds: the others must not pay for its
# misses (every load opens its connections anew, so a switch holds for it)
sm() { # SOCKMAP SOCKMAP-PODS: the data plane's switches for the next load
	$CTL set sockmap "$1" >/dev/null && $CTL set sockmap-pods "$2" >/dev/null ||
		{ echo "azds bench: cannot set sockmap $1, sockmap-pods $2" >&2; exit 1; }
}
contender() { # NAME MODE RATE
	case "$1" in
	direct) sm off on && load direct client "$ALICE:8080" "$2" "$3" ;;
	azds) sm on on && load azds client "$API_VIP" "$2" "$3" "$ROUTER_CG" ;;
	azds-nopods) sm on off && load azds-nopods client "$API_VIP" "$2" "$3" "$ROUTER_CG" ;;
	azds-stack) sm off on && load azds-stack client "$API_VIP" "$2" "$3" "$ROUTER_CG" ;;
	devspaces) sm off on && load devspaces client-ds "$API_VIP" "$2" "$3" "$SIDECAR_CG" ;;
	haproxy) sm off on && load haproxy client "$GW:18081" "$2" "$3" "$HAPROXY_CG" ;;
	nginx) sm off on && load nginx client "$GW:18082" "$2" "$3" "$NGINX_CG" ;;
	esac
}
CONTENDERS=(direct azds azds-nopods azds-stack devspaces haproxy nginx)
# every contender once per load and round; round R starts 3*(R-1) places
# further along the list, so that no contender always runs first, or always
# right after the same one, and a disturbance of a few seconds falls on a
# different contender in each round
contenders() { # MODE RATE
	local i n=${#CONTENDERS[@]} off=$(((ROUND - 1) * 3))
	for i in $(seq 0 $((n - 1))); do
		contender "${CONTENDERS[$(((i + off) % n))]}" "$1" "$2"
	done
	sm on on
}

log "azds bench: $DUR s per run, $ROUNDS round(s); every request routed to alice's api by azds-route-as"
for ROUND in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && log " round $ROUND of $ROUNDS"
	for r in $RATES; do contenders keepalive "$r"; done
	contenders newconn 1000
	contenders max 0
done
ROUND=1

# router event loops: maximum throughput with one worker and with one per CPU
# the router may run on, the node's router restarted with each (the
# defaults otherwise), then with its defaults again
restart_router() { # ROUTER-ARGS...
	local p a args=()
	p=$(cat /run/azds/$I/router.pid) || return 1
	kill "$p"
	for i in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	for a in "$@"; do args+=(--router-arg "$a"); done
	$CTL start "${args[@]}" >"$W/restart.log" 2>&1 || { cat "$W/restart.log" >&2; return 1; }
	ROUTER_CG=$(cg_of "$(cat /run/azds/$I/router.pid)") || return 1
	for i in $(seq 1 100); do probe_ok client "$API_VIP" && return 0; sleep 0.1; done
	return 1
}
NWORKERS=$(nproc)
# as many rounds as the rest, the order turned round every other one
for ROUND in $(seq 1 "$ROUNDS"); do
	ws="1 $NWORKERS"
	[ $((ROUND % 2)) = 0 ] && ws="$NWORKERS 1"
	for w in $ws; do
		name=azds-w$([ "$w" = 1 ] && echo 1 || echo N)
		# every loop open to new connections (--spread-busy 0): the
		# default opens the second only while the first is busy and a
		# CPU is idle, which the closed loop below never lets it see
		restart_router --workers "$w" --spread-busy 0 ||
			{ echo "azds bench: the router did not restart with --workers $w" >&2; exit 1; }
		load "$name" client "$API_VIP" max 0 "$ROUTER_CG" "{\"workers\":$w}"
	done
done
ROUND=1
# back to the defaults for the rest (start keeps the arguments it was
# last given in router.args): the idle-memory row measures the default
rm -f "/run/azds/$I/router.args"
restart_router || { echo "azds bench: the router did not restart with its defaults" >&2; exit 1; }

# router memory with 10,000 idle client connections (each proxy, same client)
idle_mem() { # NAME TARGET CGROUP [COUNT]
	local before after ip n=${4:-10000}
	before=$(rss_kb "$3")
	$INIT exec --pod client -- "$B/azds-idle" "$2" "$n" >"$W/idle.out" 2>&1 &
	ip=$!
	for i in $(seq 1 600); do grep -q '^open' "$W/idle.out" && break; kill -0 $ip 2>/dev/null || break; sleep 0.1; done
	if grep -q "^open $n" "$W/idle.out"; then
		sleep 1 # every connection accepted by the proxy, not just queued
		after=$(rss_kb "$3")
		printf '{"contender":"%s","mode":"idle10k","conns":%s,"rss_before_kb":%s,"rss_kb":%s}\n' "$1" "$n" \
			"${before:-null}" "${after:-null}" >>"$RES"
		log "  $(printf '%-13s %-9s' "$1" "idle $n") RSS $before kB -> $after kB"
	else
		echo "azds bench: idle connections to $1: $(cat "$W/idle.out")" >&2
		FAILED=$((FAILED + 1))
	fi
	kill $ip 2>/dev/null
	wait $ip 2>/dev/null
	sleep 1 # let the proxy close them before the next run
}
idle_mem azds "$API_VIP" "$ROUTER_CG"
idle_mem haproxy "$GW:18081" "$HAPROXY_CG" "$HAPROXY_IDLE"
idle_mem nginx "$GW:18082" "$NGINX_CG"

# plain TCP: bytes/s (iperf3) and connections/s, direct vs kernel balancer
iperf() { # NAME TARGET
	local out bps
	out=$($INIT exec --pod client -- iperf3 -c "${2%:*}" -p "${2#*:}" -t "$DUR" -J 2>/dev/null)
	bps=$(echo "$out" | grep -A8 '"sum_received"' | awk -F: '/bits_per_second/ { gsub(/[ ,]/, "", $2); print $2; exit }')
	printf '{"contender":"%s","mode":"tcp_bytes","bits_per_second":%s}\n' "$1" "${bps:-null}" >>"$RES"
	log "  $(printf '%-13s %-9s' "$1" tcp) $(awk -v b="${bps:-0}" 'BEGIN { printf "%.2f Gbit/s", b / 1e9 }')"
}
# interleaved and repeated: a noisy moment should not decide a ratio
for rep in 1 2 3; do
	iperf tcp-direct "$BULK:5201"
	iperf tcp-kernel-lb "$BULK_VIP"
done
for ROUND in 1 2 3; do
	load tcp-direct client "$BULK:8080" max 0
	load tcp-kernel-lb client "$PLAIN_VIP" max 0
	load tcp-direct client "$BULK:8080" newconn 0
	load tcp-kernel-lb client "$PLAIN_VIP" newconn 0
done
ROUND=1

# scale: 1,000 spaces x 20 services into the maps, and one routing change
if out=$("$B/azds-scale" -i $I --spaces 1000 --services 20 2>"$W/scale.err"); then
	echo "$out" | jq -c '{contender: "azds", mode: "scale"} + .' >>"$RES"
	log "  scale: $out"
else
	echo "azds bench: scale: $(cat "$W/scale.err")" >&2
	FAILED=$((FAILED + 1))
fi

# the controller through its API: a change until the maps have it, 1,000 spaces
# x 20 services created, and the same set reconciled after a simulated reboot
if out=$("$B/azds-ctlbench" -i "${I:0:11}c" --spaces 1000 --services 20 2>"$W/ctl.err"); then
	echo "$out" | jq -c '{contender: "azds", mode: "controller"} + .' >>"$RES"
	log "  controller: $out"
else
	echo "azds bench: controller: $(tail -3 "$W/ctl.err")" >&2
	FAILED=$((FAILED + 1))
fi
# the router under the daemon at 1,000 req/s: kill -9 until serving again, restart-router
if out=$(AZDS_RESTART_INSTANCE="${I:0:11}r" "$HERE/restart.sh" "$B" 5 json 2>"$W/restart.err") &&
	[ "$(echo "$out" | jq -r .serving_again_median_ms)" != null ]; then
	echo "$out" | jq -c '{contender: "azds", mode: "restart"} + .' >>"$RES"
	log "  restart: $out"
else
	echo "azds bench: restart: $(tail -3 "$W/restart.err")" >&2
	FAILED=$((FAILED + 1))
fi

# ---- report -------------------------------------------------------------------------
"$HERE/report.sh" "$OUT" "$RES" "$PLOT" "$DUR" || exit 1
# a measurement that failed is a missing figure: the run is a failure
if [ "$FAILED" -gt 0 ]; then
	echo "azds bench: $FAILED measurement(s) failed (see above)" >&2
	exit 1
fi
