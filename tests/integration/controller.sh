#!/bin/bash
# SPDX-License-Identifier: MIT
# The controller daemon end to end: spaces made with `azds space select`,
# services and sandboxed pods through the CLI, a request routed through
# them; traffic while the controller is down; a kill -9 of the controller
# during 200 changes (every acknowledged change is there afterwards, and
# the maps match the store); a simulated reboot (every pin, namespace,
# cgroup and process of the instance removed) restored by a start; a
# removed space leaves nothing behind.
INST="${AZDS_TEST_PREFIX:-}ctl"
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds -i $INST"
SOCK=/run/azds/$INST/api.sock
# the cgroup v2 tree (unified or hybrid host): where pods' and the controller's cgroups are
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || { echo "no cgroup2 mount"; exit 1; }
STATE=/var/lib/azds/$INST

cleanup() {
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

api() { # api METHOD PATH [BODY]: prints "STATUS BODY"
	local m=$1 p=$2
	shift 2
	curl -s --max-time 20 --unix-socket "$SOCK" -X "$m" -w ' %{http_code}' ${1:+-d "$1"} "http://azds$p"
}

status_of() { echo "${1##* }"; }

start_ctl() {
	$AZDS controller start >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log" "/run/azds/$INST/controller.log" 2>/dev/null; exit 1; }
}

ctl_pid() { cat "/run/azds/$INST/controller.pid" 2>/dev/null; }

# wait until a pod's server answers from client pod CLIENT (readiness only)
wait_http() {
	local i
	for i in $(seq 1 300); do
		in_pod "$1" "$BIN/azds-probe" get "$2" / --timeout 2 >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

cleanup # a crashed earlier run's instance
mkdir -p "$WORK"
start_ctl

# ---- what a running daemon refuses, each with its one-line reason
out=$($AZDS controller start --pod-pids 64 2>&1)
expect_eq "start with new settings on a running controller fails" "$?" 1
expect_contains "... and says how to apply them" "$out" "controller stop, then start with them"
out=$($INIT add --pod zz --space default 2>&1)
expect_eq "azds-init add on a daemon's instance fails (it does not hang)" "$?" 1
expect_contains "... and points to the CLI" "$out" "is run by the controller daemon"
out=$($AZDS pod list -n nope 2>&1)
expect_eq "pod list of a space that does not exist fails" "$?" 1
expect_contains "... naming it" "$out" 'space "nope" does not exist'
out=$($AZDS pod run w -n default --workdir /etc -- /bin/true 2>&1)
expect_contains "a root-owned workdir is refused before anything is stored" "$out" "belongs to root"
expect_eq "... and no pod w exists" "$(status_of "$(api GET /v1/pods/w)")" 404

# ---- spaces, services and pods through the CLI; a request routed through them
r=$(api GET /v1/spaces/default)
expect_eq "the default space exists" "$(status_of "$r")" 200
$AZDS space select -n dev -y >/dev/null || bad "select -n dev -y"
$AZDS space select -n dev/alice -y >/dev/null || bad "select -n dev/alice -y"
expect_contains "dev/alice carries its parent label" "$($AZDS space show -n dev/alice)" "azds.io/parent-space=dev"
$AZDS service add api -n dev --port 80 --target-port 8080 >/dev/null || bad "service add api -n dev"
$AZDS service add api -n dev/alice --port 80 --target-port 8080 >/dev/null || bad "service add api -n dev/alice"
$AZDS pod run api-dev -n dev --service api -- "$BIN/podserver" --pod api-dev --space dev --service api >/dev/null ||
	bad "pod run api-dev"
$AZDS pod run api-alice -n dev/alice --service api -- "$BIN/podserver" --pod api-alice --space dev/alice \
	--service api >/dev/null || bad "pod run api-alice"
$AZDS pod run client -n dev >/dev/null || bad "pod run client (bare)"
wait_http client api:80 || bad "api never answered"
expect_contains "dev's client, no header: dev's api" "$(probe client get api:80 /)" "pod=api-dev"
expect_contains "dev's client, route-as alice: alice's api" \
	"$(probe client get api:80 / -H 'azds-route-as: alice')" "pod=api-alice"
expect_contains "pod list shows both servers running" "$($AZDS pod list -A)" "Running"

# ---- traffic never depends on the controller
kill -9 "$(ctl_pid)"
expect_contains "controller killed: dev/alice still routed" \
	"$(probe client get api:80 / -H 'azds-route-as: alice')" "pod=api-alice"
# what a daemon killed mid-create leaves: a pod namespace that neither the
# store nor the maps know (the next start removes it)
ip netns add "azds-$INST-p-orphan1"
start_ctl
expect_eq "controller back: a pod namespace the store does not know is removed" \
	"$(ip netns list | grep -c "^azds-$INST-p-orphan1\b")" 0
expect_contains "controller back: the same pods run (adopted, not restarted)" \
	"$(api GET /v1/pods/api-dev)" '"restarts":0'

# ---- kill -9 of the controller during 200 changes of every kind: service
# and space creates, bare pod creates, service deletes. Every acknowledged
# change is there afterwards (a create present unless an acknowledged delete
# followed, a delete absent), and the maps hold exactly what the store holds
: >"$WORK/acked"
(
	for i in $(seq 1 200); do
		if [ $((i % 10)) = 0 ]; then
			op="space k$i"
			r=$(api POST /v1/spaces "{\"name\":\"dev/k$i\"}")
		elif [ $((i % 20)) = 5 ]; then
			op="pod p$i"
			r=$(api POST /v1/pods "{\"name\":\"p$i\",\"space\":\"dev\"}")
		elif [ $((i % 7)) = 0 ] && [ $i -gt 7 ]; then
			op="del s$((i - 7))"
			r=$(api DELETE "/v1/services/s$((i - 7))?space=dev")
		else
			op="svc s$i"
			r=$(api POST /v1/services "{\"space\":\"dev\",\"name\":\"s$i\",\"port\":9$(printf %03d "$i")}")
		fi
		case "$(status_of "$r")" in 2??) echo "$op" >>"$WORK/acked" ;; esac
	done
) &
loader=$!
# the kill lands somewhere in the middle: after the 60th acknowledged change
for i in $(seq 1 3000); do
	[ "$(wc -l <"$WORK/acked")" -ge 60 ] && break
	sleep 0.01
done
kill -9 "$(ctl_pid)"
wait "$loader"
nacked=$(wc -l <"$WORK/acked")
start_ctl
svcs=$(api GET '/v1/services?space=dev')
spaces=$(api GET /v1/spaces)
pods=$(api GET /v1/pods)
missing=0
while read -r kind name; do
	case $kind in
	svc) grep -q "^del $name\$" "$WORK/acked" && continue
		case "$svcs" in *"\"name\":\"$name\""*) ;; *) missing=$((missing + 1)); echo "     missing: service $name" ;; esac ;;
	del) case "$svcs" in *"\"name\":\"$name\""*) missing=$((missing + 1)); echo "     still there: service $name" ;; esac ;;
	space) case "$spaces" in *"\"name\":\"dev/$name\""*) ;; *) missing=$((missing + 1)); echo "     missing: space dev/$name" ;; esac ;;
	pod) case "$pods" in *"\"name\":\"$name\""*) ;; *) missing=$((missing + 1)); echo "     missing: pod $name" ;; esac ;;
	esac
done <"$WORK/acked"
if [ "$nacked" -ge 60 ] && [ "$nacked" -lt 200 ] && [ "$missing" -eq 0 ]; then
	ok "kill -9 after $nacked of 200 changes (creates, deletes, spaces, pods): every acknowledged change holds"
else
	bad "acknowledged $nacked, wrong after restart: $missing"
fi
# the maps (azds-controller's read verbs read them) hold exactly what the store holds
store_svcs=$(echo "$svcs" | grep -o '"name":"s[0-9]*"' | sed 's/"name":"//; s/"//' | sort)
map_svcs=$($CTL service list | awk '$1 == "dev" && $2 ~ /^s[0-9]+$/ { print $2 }' | sort)
expect_eq "after the restart the services in the maps are the store's" "$map_svcs" "$store_svcs"
store_spaces=$(echo "$spaces" | grep -o '"name":"dev/k[0-9]*"' | sed 's/"name":"//; s/"//' | sort)
map_spaces=$($CTL space list | awk '$2 ~ /^dev\/k[0-9]+$/ { print $2 }' | sort)
expect_eq "after the restart the spaces in the maps are the store's" "$map_spaces" "$store_spaces"
store_pods=$(echo "$pods" | grep -o '"name":"p[0-9]*"' | sed 's/"name":"//; s/"//' | sort)
map_pods=$($CTL pod list | awk '$1 ~ /^p[0-9]+$/ { print $1 }' | sort)
expect_eq "after the restart the pods in the maps are the store's" "$map_pods" "$store_pods"
for p in $store_pods; do
	ip netns list | grep -q "^azds-$INST-p-$p\b" || bad "pod $p has no namespace"
done

# ---- stop --all, then start: the pods the controller stopped run again
$AZDS controller stop --all >/dev/null || bad "controller stop --all"
expect_eq "stop --all: the server pod's processes are gone" \
	"$(cat $CGROOT/azds-$INST/api-dev/cgroup.procs 2>/dev/null | wc -l)" 0
start_ctl
wait_http client api:80 || bad "api never answered after stop --all and start"
expect_contains "after stop --all and start: api-dev runs again" "$(api GET /v1/pods/api-dev)" '"phase":"Running"'
expect_contains "... and serves" "$(probe client get api:80 /)" "pod=api-dev"

# ---- the reboot simulation: nothing of the instance on the node, the store kept
pods_before=$(api GET /v1/pods | grep -o '"name":"[a-z-]*","space"' | sort)
$CTL purge --keep-state >/dev/null || bad "purge --keep-state"
left=$( (ls /sys/fs/bpf/azds/$INST; ip netns list | grep "azds-$INST-"; ls -d $CGROOT/azds-$INST) 2>/dev/null)
expect_eq "simulated reboot: no pin, namespace or cgroup of the instance left" "$left" ""
[ -f "$STATE/state.db" ] && ok "the store survives the reboot" || bad "the store is gone"
start_ctl
expect_eq "after start: every pod is back in the store" \
	"$(api GET /v1/pods | grep -o '"name":"[a-z-]*","space"' | sort)" "$pods_before"
for p in api-dev api-alice; do
	expect_contains "after the reboot: $p runs again" "$(api GET /v1/pods/$p)" '"phase":"Running"'
done
expect_contains "after the reboot: the pods are in the maps" "$($CTL pod list)" "api-alice"
wait_http client api:80 || bad "api never answered after the reboot"
expect_contains "after the reboot: dev/alice routed again" \
	"$(probe client get api:80 / -H 'azds-route-as: alice')" "pod=api-alice"
expect_contains "after the reboot: dev routed again" "$(probe client get api:80 /)" "pod=api-dev"

# ---- a lent workdir and a graceful stop: the pod's command gets SIGTERM
# (and may clean up) before anything harder; the pod's uid loses its ACL
# entries on the directory once the pod is gone
LEND=$WORK/lend
mkdir -p "$LEND" && chown nobody "$LEND" && chmod 0755 "$WORK"
$AZDS pod run lend -n dev --workdir "$LEND" -- /bin/sh -c \
	'trap "echo bye >/workspace/bye; exit 0" TERM; echo up >/workspace/up; while :; do sleep 0.1; done' >/dev/null ||
	bad "pod run lend"
for i in $(seq 1 200); do [ -f "$LEND/up" ] && break; sleep 0.05; done
[ -f "$LEND/up" ] && ok "a pod writes to its lent workdir" || bad "the pod never wrote to its workdir: $($AZDS pod logs lend)"
lend_uid=$(api GET /v1/pods/lend | grep -o '"uid":[0-9]*' | cut -d: -f2)
expect_contains "the pod's uid has an ACL entry on the workdir" "$(getfacl -cn "$LEND" 2>/dev/null)" "user:$lend_uid:"
expect_eq "the workdir still belongs to its owner" "$(stat -c %U "$LEND")" nobody
$AZDS pod rm lend >/dev/null || bad "pod rm lend"
expect_eq "pod rm: the command got SIGTERM and exited cleanly" "$(cat "$LEND/bye" 2>/dev/null)" bye
expect_not_contains "pod rm: the pod's uid lost its ACL entry" "$(getfacl -cn "$LEND" 2>/dev/null)" "user:$lend_uid:"

# ---- a removed space leaves nothing behind
alice_ns=$(ip netns list | awk '{print $1}' | grep "^azds-$INST-p-api-alice$")
[ -n "$alice_ns" ] && ok "alice's pod has its namespace" || bad "alice's pod namespace missing"
out=$($AZDS space remove -n dev/alice -y 2>&1)
expect_contains "space remove -n dev/alice" "$out" "dev/alice"
expect_eq "alice's pod namespace is gone" "$(ip netns list | grep -c "azds-$INST-p-api-alice")" 0
expect_eq "alice's pod cgroup is gone" "$(ls -d $CGROOT/azds-$INST/api-alice 2>/dev/null)" ""
expect_eq "alice's pod directory is gone" "$(ls -d "$STATE/pods/api-alice" 2>/dev/null)" ""
expect_eq "alice's pod unit is gone" "$(ls -d "/run/azds/$INST/units/pod-api-alice" 2>/dev/null)" ""
expect_not_contains "the maps have no dev/alice space" "$($CTL space list)" "dev/alice"
expect_not_contains "the maps have no dev/alice service" "$($CTL service list)" "dev/alice"
expect_contains "dev is untouched: its api still answers" \
	"$(probe client get api:80 / -H 'azds-route-as: alice')" "pod=api-dev"

# ---- purge ends every process of the instance even when its pid files and
# the supervisor's state are gone (a crash, a hand that cleaned /run): the
# controller and its shims live in the instance's cgroup tree
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
dpid=$(ctl_pid)
procs=$(cat "$CGROOT/azds-$INST/_controller/cgroup.procs" 2>/dev/null)
[ -n "$procs" ] && alive "$dpid" && ok "the controller and its shims are in the instance's cgroup" ||
	bad "no process in azds-$INST/_controller"
rm -f "/run/azds/$INST/controller.pid" && rm -rf "/run/azds/$INST/units"
$CTL purge >/dev/null || bad "purge"
left=0
for p in $procs; do alive "$p" && left=$((left + 1)); done
expect_eq "purge without pid files: no controller, shim or DNS process of the instance is left" "$left" 0
expect_eq "... and no cgroup" "$(ls -d $CGROOT/azds-$INST 2>/dev/null)" ""
finish
