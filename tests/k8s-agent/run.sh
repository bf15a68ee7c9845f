#!/bin/bash
# SPDX-License-Identifier: MIT
# The Kubernetes mode's node agent on the harness's real two-node cluster
# (tests/k8s/cluster.sh): one agent per node, in the node's network
# namespace, with its own instance. Namespaces labelled as spaces become
# spaces; Services, EndpointSlices and the node's Pods reach the maps; a
# request to dev's Service, by name or ClusterIP, is served by the copy of
# the nearest space of its azds-route-as (header or baggage), on both
# nodes and across them, over two hops; plain-TCP services are balanced by
# connect4; unlabelled namespaces are untouched; unlabelling removes a
# space; an agent killed with -9 comes back to the same maps; CNI ADD
# attaches a new pod before it runs. Needs root. Prints "N passed, N
# failed" last.
#
#   tests/k8s-agent/run.sh BINDIR   (BINDIR holds azds-controller, azds-router, azds-cni)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
CL=${AZDS_K8S_CLUSTER:-$ROOT/tests/k8s/cluster.sh}
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-kagent}
P=${AZDS_TEST_PREFIX:-ka}
INST1=${P}kag1
INST2=${P}kag2
pass=0
fail=0

[ -x "$BIN/azds-controller" ] || { echo "no $BIN/azds-controller" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
# a crashed earlier run's scratch directory goes first (one run at a time: the cluster name is shared)
rm -rf /tmp/azds-k8s-agent.??????
TMP=$(mktemp -d /tmp/azds-k8s-agent.XXXXXX)

. "$ROOT/tests/k8s/check.sh"

purge() {
	"$BIN/azds-controller" -i "$INST1" purge >/dev/null 2>&1 || true
	"$BIN/azds-controller" -i "$INST2" purge >/dev/null 2>&1 || true
}
cleanup() {
	if [ "$fail" != 0 ] || [ -n "${KEEP:-}" ]; then
		for n in 1 2; do
			echo "# agent $n log (last 30 lines)"
			tail -30 "$TMP/agent$n.log" 2>/dev/null || true
		done
	fi
	# AZDS_K8S_AGENT_KEEP=1: leave the cluster and agents for a look
	[ -n "${AZDS_K8S_AGENT_KEEP:-}" ] && { echo "# kept: $CL down; azds-controller -i $INST1 purge"; return; }
	"$CL" down >/dev/null 2>&1 || true
	purge
	rm -rf "$TMP"
}
trap cleanup EXIT

# A crashed earlier run's cluster and instances go first.
purge
nice -n 19 "$CL" up
eval "$("$CL" env)"
kc() { "$CL" kubectl "$@"; }
# busybox-static's wget and nc crash on names (no NSS in a static glibc):
# the pods get Debian's curl, with its libraries
IMG=localhost/azds-k8s/tools:1
"$ROOT/tests/k8s/image.sh" -b -o "$TMP/tools.tar" -n "$IMG" -A /usr/bin/curl:/usr/bin/curl -c '["/bin/sh"]'
for n in 1 2; do "$CL" ctr "$n" images import "$TMP/tools.tar" >/dev/null 2>&1; done

agent_pid() { cat "/run/azds/$1/controller.pid" 2>/dev/null || true; }
start_agent() { # start_agent N
	local n=$1 inst
	inst=$([ "$n" = 1 ] && echo "$INST1" || echo "$INST2")
	"$CL" exec "$n" "$BIN/azds-controller" -i "$inst" run --kubeconfig "$KUBECONFIG" --node "node-$n" \
		--pod-cgroup "/sys/fs/cgroup/unified/azds-k8s-$AZDS_K8S_NAME-n$n/kubepods" \
		--cni-bin-dir "$S/n$n/cni/bin" --cni-conf-dir "$S/n$n/cni/net.d" --workers 1 \
		>>"$TMP/agent$n.log" 2>&1 &
}
# wait_for WHAT CMD...: CMD succeeds within 60 s (a bounded retry, not a timing)
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 1 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	notok "$what: never happened"
	return 1
}
synced() { grep -q '"synced":true' "/run/azds/$1/k8s/status.json"; }
dump() { AZDS_INSTANCE=$1 "$BIN/azds-controller" k8s-dump; }
dump_has() { dump "$1" | grep -Eq -- "$2"; }
dump_lacks() { ! dump "$1" | grep -Eq -- "$2"; }

# ---------------------------------------------------------------- objects
ns() { # ns NAME [PARENT|-] [unlabelled]
	local labels='"azds.io/space":"true"'
	[ "${2:--}" != - ] && labels="$labels,\"azds.io/parent-space\":\"$2\""
	[ "${3:-}" = unlabelled ] && labels='"azds.test/plain":"true"'
	kc apply -f - <<YAML >/dev/null
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"$1","labels":{$labels}}}
YAML
}
# server NS NAME APP NODE TEXT: busybox httpd on 8080 answering TEXT at /,
# and at /cgi-bin/hop: TEXT then what api.dev answers with the same route-as
server() {
	kc apply -f - <<YAML >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {app: $3}}
spec:
  nodeName: node-$4
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      echo "$5" > /www/index.html
      printf '%s\n' '#!/bin/sh' 'printf "Content-Type: text/plain\\r\\n\\r\\n"' 'echo "$5"' \
        'curl -s -m 5 -H "azds-route-as: \$HTTP_AZDS_ROUTE_AS" http://api.dev.svc.cluster.local/' > /www/cgi-bin/hop
      chmod +x /www/cgi-bin/hop
      exec httpd -f -p 8080 -h /www
YAML
}
client() { # client NS NAME NODE
	kc apply -f - <<YAML >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1}
spec:
  nodeName: node-$3
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: $IMG, imagePullPolicy: Never, command: [sleep, "3600"]}
YAML
}
service() { # service NS NAME APP PORTNAME PORT
	kc apply -f - <<YAML >/dev/null
apiVersion: v1
kind: Service
metadata: {name: $2, namespace: $1}
spec:
  selector: {app: $3}
  ports: [{name: $4, port: $5, targetPort: 8080}]
YAML
}
# get NS POD URL [HEADER]: the body a client pod gets
get() {
	local h=()
	[ -n "${4:-}" ] && h=(-H "$4")
	kc exec -n "$1" "$2" -- curl -s -S -m 5 "${h[@]}" "$3" 2>&1 || true
}
cip() { kc get svc -n "$1" "$2" -o jsonpath='{.spec.clusterIP}'; }
running() { [ "$(kc get pod -n "$1" "$2" -o jsonpath='{.status.phase}')" = Running ]; }

echo "# pods that run before the agents start (found on start, not by CNI)"
kc create namespace azds >/dev/null # what azds controller install makes: the Lease lives there
ns dev
ns alice dev
ns ax alice
ns plain - unlabelled
server dev api-dev api 2 "api@dev"
service dev api api http 80
client dev early 1
wait_for "early pods running" running dev early
wait_for "api-dev running" running dev api-dev

echo "# agents"
start_agent 1
start_agent 2
wait_for "agent 1 synced" synced "$INST1" && ok "agent 1 listed and synced"
wait_for "agent 2 synced" synced "$INST2" && ok "agent 2 listed and synced"
EARLY=$(kc get pod -n dev early -o jsonpath='{.status.podIP}')
wait_for "early pod in node 1's pods map" dump_has "$INST1" "^pod $EARLY dev early cgroup=yes$" &&
	ok "a pod running before the agent is attached on start, with its cgroup"
expect "spaces from labelled namespaces" "space dev$" "$(dump "$INST1")"
expect "a child space's path" "space dev/alice$" "$(dump "$INST1")"
expect "a grandchild's path" "space dev/alice/ax$" "$(dump "$INST1")"
expect_not "an unlabelled namespace is no space" "space .*plain" "$(dump "$INST1")"
grep -q "azds-cni" "$S/n1/cni/net.d/"*.conflist && ok "the agent chained azds-cni into node 1's conflist" ||
	notok "no azds-cni in $(cat "$S/n1/cni/net.d/"*.conflist)"
[ -x "$S/n1/cni/bin/azds-cni" ] && ok "azds-cni installed into node 1's CNI bin dir" || notok "no azds-cni binary"
[ "$(cat "/run/azds/$INST1/k8s/spaces/alice" 2>/dev/null)" = dev/alice ] && ok "spaces published for the CNI plugin" ||
	notok "no /run/azds/$INST1/k8s/spaces/alice"

echo "# leader election and the webhook"
leader_of() { grep -l '"leader":true' /run/azds/"$INST1"/k8s/status.json /run/azds/"$INST2"/k8s/status.json 2>/dev/null | wc -l; }
one_leader() { [ "$(leader_of)" = 1 ]; }
wait_for "one leader" one_leader && ok "exactly one agent leads"
webhook_url() { kc get mutatingwebhookconfiguration azds-webhook -o jsonpath='{.webhooks[0].clientConfig.url}' 2>/dev/null || true; }
has_webhook() { [ -n "$(webhook_url)" ]; }
wait_for "webhook registered" has_webhook && ok "the leader registered its webhook: $(webhook_url)"

echo "# services and pods after the agents (CNI ADD attaches them)"
server alice api-alice api 1 "api@alice"
service alice api api http 80
server dev web-dev web 1 "web@dev"
service dev web web http 80
server dev tcp-dev tcp 2 "tcp@dev"
service dev echo tcp tcp-echo 7000
server alice tcp-alice tcp 1 "tcp@alice"
service alice echo tcp tcp-echo 7000
server plain api-plain api 1 "api@plain"
service plain api api http 80
client dev c1 1
client dev c2 2
client alice ca 1
client plain cp1 1
for p in alice:api-alice dev:web-dev dev:tcp-dev alice:tcp-alice plain:api-plain dev:c1 dev:c2 alice:ca plain:cp1; do
	wait_for "pod $p running" running "${p%%:*}" "${p#*:}"
done
C1=$(kc get pod -n dev c1 -o jsonpath='{.status.podIP}')
CA=$(kc get pod -n alice ca -o jsonpath='{.status.podIP}')
CP1=$(kc get pod -n plain cp1 -o jsonpath='{.status.podIP}')
ls "/run/azds/$INST1/k8s/cni/" | grep -q json && ok "the CNI plugin recorded node 1's new pods" || notok "no CNI records"
wait_for "c1 in the pods map" dump_has "$INST1" "^pod $C1 dev c1 cgroup=yes$" && ok "a new pod is in node 1's pods map"
wait_for "ca in the pods map" dump_has "$INST1" "^pod $CA dev/alice ca cgroup=yes$" && ok "a child space's pod has its space"
expect_not "a pod of an unlabelled namespace is not in the map" "^pod $CP1 " "$(dump "$INST1")"
API_DEV=$(cip dev api)
API_ALICE=$(cip alice api)
API_PLAIN=$(cip plain api)
wait_for "api's backends" dump_has "$INST1" "^service dev/alice api http $API_ALICE:80 ->8080 [0-9.]+$"
expect "dev's api in the services map" "^service dev api http $API_DEV:80 ->8080 [0-9.]+$" "$(dump "$INST1")"
expect "dev's ClusterIP names api" "^vip $API_DEV:80 api http$" "$(dump "$INST1")"
expect "alice's ClusterIP names api too" "^vip $API_ALICE:80 api http$" "$(dump "$INST1")"
expect "a tcp-named port is plain TCP" "^vip $(cip dev echo):7000 echo tcp$" "$(dump "$INST1")"
expect_not "an unlabelled namespace's Service is not in the maps" "$API_PLAIN" "$(dump "$INST1")"
expect "node 2's agent sees the same services" "^service dev/alice api http $API_ALICE:80" "$(dump "$INST2")"

echo "# the webhook's patch, nothing injected"
CAJ=$(kc get pod -n alice ca -o json)
expect "a pod of alice is labelled with its space" '"azds.io/space": "dev.alice"' "$CAJ"
expect "its search list walks to dev" '"dev.svc.cluster.local"' "$CAJ"
[ "$(jq '.spec.containers | length' <<<"$CAJ")" = 1 ] && ok "no container added" || notok "containers: $(jq -c '.spec.containers' <<<"$CAJ")"
expect_not "a pod of an unlabelled namespace is not patched" 'azds.io/space' "$(kc get pod -n plain cp1 -o json)"
expect "a name only dev has resolves from alice (search list)" "^web@dev$" "$(get alice ca http://web/)"

echo "# routing by name and ClusterIP, header and baggage, both nodes"
U=http://api.dev.svc.cluster.local/
expect "dev, no route-as: dev's copy" "^api@dev$" "$(get dev c1 $U)"
expect "route-as alice (header): alice's copy" "^api@alice$" "$(get dev c1 $U 'azds-route-as: alice')"
expect "route-as alice (baggage)" "^api@alice$" "$(get dev c1 $U 'baggage: azds-route-as=alice')"
expect "route-as ax (a grandchild with no api): its parent's" "^api@alice$" "$(get dev c1 $U 'azds-route-as: ax')"
expect "by ClusterIP: the same routing" "^api@alice$" "$(get dev c1 "http://$API_DEV/" 'azds-route-as: alice')"
expect "early pod (attached on start) is routed" "^api@alice$" "$(get dev early $U 'azds-route-as: alice')"
expect "node 2 to a backend on node 1" "^api@alice$" "$(get dev c2 $U 'azds-route-as: alice')"
expect "node 2, no route-as: dev's copy on node 2" "^api@dev$" "$(get dev c2 $U)"
expect "a pod of alice calling dev's name gets alice's copy" "^api@alice$" "$(get alice ca $U)"
expect "two hops: web@dev then api@alice" "web@dev
api@alice" "$(get dev c1 http://web.dev.svc.cluster.local/cgi-bin/hop 'azds-route-as: alice')"
expect "two hops without route-as: dev's all the way" "web@dev
api@dev" "$(get dev c2 http://web.dev.svc.cluster.local/cgi-bin/hop)"
expect "conflicting route-as values: 400 naming both" "alice.*bob|bob.*alice" \
	"$(get dev c1 $U 'baggage: azds-route-as=alice,azds-route-as=bob')"

# the router's accepted sockets live in the node's own namespace, which
# keeps TIME_WAIT: a client that asked for close closes first, so none is
# left there (one would drop a later SYN of the same tuple, assigned by TC)
# (a response delimited by the close, as the CGI hop's above, needs the
# router's FIN and leaves one: docs/kubernetes.md)
tw_ports() { "$CL" exec 1 ss -Htan state time-wait dst "$C1" | awk '{print $4}' | sort; }
tw_before=$(tw_ports)
for i in 1 2 3; do get dev c1 $U 'Connection: close' >/dev/null; done
get dev c1 $U 'baggage: azds-route-as=a,azds-route-as=b' >/dev/null # the router's own 400
new_tw() { comm -13 <(echo "$tw_before") <(tw_ports) | grep -q .; }
# (had the router closed first, the socket would be in TIME_WAIT as soon
# as curl's own FIN came, before kubectl exec returned)
if ! new_tw; then ok "Connection: close exchanges and the router's own replies leave no TIME_WAIT in the node's namespace"
else notok "new TIME_WAIT in node 1: $(comm -13 <(echo "$tw_before") <(tw_ports))"; fi

echo "# plain TCP: connect4 balances the ClusterIP in the kernel"
E=http://echo.dev.svc.cluster.local:7000/
expect "dev pod to dev's echo" "^tcp@dev$" "$(get dev c1 $E)"
expect "alice's pod to dev's echo name: alice's copy" "^tcp@alice$" "$(get alice ca $E)"

echo "# unlabelled namespaces are untouched"
expect_not "plain pod's traffic is not steered (no kube-proxy here: no answer)" "api@" "$(get plain cp1 "http://$API_PLAIN/")"
kc exec -n plain cp1 -- true >/dev/null 2>&1 && ok "plain pod runs" || notok "plain pod broken"

echo "# endpoints change"
kc delete pod -n alice api-alice --wait=true >/dev/null
wait_for "alice's api without backends" dump_has "$INST1" "^service dev/alice api http $API_ALICE:80 ->8080$" &&
	ok "a deleted pod leaves its service's backends"
wait_for "api-alice out of the pods map" dump_lacks "$INST1" "^pod [0-9.]+ dev/alice api-alice " &&
	ok "a deleted pod leaves node 1's pods map"
server alice api-alice2 api 2 "api@alice2"
wait_for "api-alice2 running" running alice api-alice2
wait_for "new backend" dump_has "$INST1" "^service dev/alice api http $API_ALICE:80 ->8080 [0-9.]+$"
expect "a new backend on the other node serves alice" "^api@alice2$" "$(get dev c1 $U 'azds-route-as: alice')"

echo "# kill -9 and restart: the same maps"
before1=$(dump "$INST1")
kill -9 "$(agent_pid "$INST1")"
expect "routing goes on while the agent is down" "^api@alice2$" "$(get dev c1 $U 'azds-route-as: alice')"
# while it is down: a Service goes, a namespace becomes a space, a pod starts in it
kc delete svc -n dev web >/dev/null
ns bob dev
client bob cb 1
wait_for "cb running" running bob cb
CB=$(kc get pod -n bob cb -o jsonpath='{.status.podIP}')
start_agent 1
wait_for "agent 1 back" synced "$INST1"
wait_for "web gone after restart" dump_lacks "$INST1" "^service dev web " && ok "a Service deleted meanwhile is gone"
wait_for "bob's pod attached" dump_has "$INST1" "^pod $CB dev/bob cb cgroup=yes$" &&
	ok "a namespace labelled and a pod started meanwhile: the pod is attached after the restart"
expect "and routed" "^api@alice2$" "$(get bob cb $U 'azds-route-as: alice')"
after1=$(dump "$INST1")
if diff <(grep -v " web " <<<"$before1") <(grep -v "dev/bob" <<<"$after1") >/dev/null; then
	ok "after kill -9 and restart the maps are the same, less what changed meanwhile"
else
	notok "maps differ: $(diff <(grep -v " web " <<<"$before1") <(grep -v "dev/bob" <<<"$after1") || true)"
fi

echo "# the leader dies: the other agent takes the lease and the webhook"
wait_for "one leader again" one_leader # a restarted agent leads again only after its first sync
if grep -q '"leader":true' "/run/azds/$INST1/k8s/status.json"; then LN=1 LI=$INST1 FI=$INST2; else LN=2 LI=$INST2 FI=$INST1; fi
OLD_URL=$(webhook_url)
kill -9 "$(agent_pid "$LI")"
new_leader() { grep -q '"leader":true' "/run/azds/$FI/k8s/status.json" && [ "$(webhook_url)" != "$OLD_URL" ] && has_webhook; }
wait_for "the other agent leads" new_leader && ok "after the leader's kill -9 the other leads and serves the webhook: $(webhook_url)"
start_agent "$LN"
wait_for "agent $LN back" synced "$LI"
client alice ca2 1
wait_for "ca2 running" running alice ca2
expect "the new leader's webhook patches pods" '"azds.io/space": "dev.alice"' "$(kc get pod -n alice ca2 -o json)"

echo "# the API server restarts while the agents watch, and etcd compacts past them"
cat >"$TMP/restart.sh" <<EOS
#!/bin/bash
set -e
pid=\$(cat "$S/pids/apiserver.pid")
mapfile -d '' args </proc/\$pid/cmdline
kill -9 "\$pid"
for i in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
for i in 1 2 3; do curl -sf -X POST http://127.0.0.1:2379/v3/kv/put -d '{"key":"YXpkcy10ZXN0","value":"eA=="}' >/dev/null; done
rev=\$(curl -sf -X POST http://127.0.0.1:2379/v3/kv/range -d '{"key":"AA=="}' | sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')
curl -sf -X POST http://127.0.0.1:2379/v3/kv/compaction -d "{\"revision\":\"\$rev\",\"physical\":true}" >/dev/null
setsid nsenter --net="$S/netns/cp" -- "\${args[@]}" </dev/null >>"$S/logs/apiserver.log" 2>&1 &
echo \$! >"$S/pids/apiserver.pid"
EOS
chmod +x "$TMP/restart.sh"
# the request is made from c1's network namespace, entered from here by the
# pid containerd gives for its container, not by kubectl exec: that needs the
# API server this check takes down
C1_ID=$(kc get pod -n dev c1 -o jsonpath='{.status.containerStatuses[0].containerID}')
C1_PID=$("$CL" ctr 1 task ls 2>/dev/null | awk -v id="${C1_ID#containerd://}" '$1 == id { print $2 }')
API_IP=$(cip dev api)
get_c1_direct() { # HEADER: api.dev by its ClusterIP from c1's network namespace
	nsenter --net="/proc/${C1_PID:-0}/ns/net" -- curl -s -S -m 5 -H 'Host: api.dev.svc.cluster.local' -H "$1" \
		"http://$API_IP/" 2>&1 || true
}
expect "the API-server-free path into c1 works" "^api@alice2$" "$(get_c1_direct 'azds-route-as: alice')"
"$CL" exec cp "$TMP/restart.sh"
expect "while the API server is down, routing goes on" "^api@alice2$" "$(get_c1_direct 'azds-route-as: alice')"
api_up() { kc get --raw /readyz >/dev/null; }
wait_for "the API server back" api_up
service alice web web http 80
server alice web-alice web 2 "web@alice"
kc delete svc -n dev echo >/dev/null
wait_for "alice's new web in the maps" dump_has "$INST1" "^service dev/alice web http $(cip alice web):80 ->8080 [0-9.]+$" &&
	ok "after the restart (and a compaction) the watch goes on: a new service reaches the maps"
wait_for "dev's echo gone" dump_lacks "$INST1" "^service dev echo " && ok "and a deleted one leaves them"
expect "the new copy routes" "^web@alice$" "$(get dev c1 http://web.alice.svc.cluster.local/ 'azds-route-as: alice')"
watched=$(dump "$INST1")
kill -9 "$(agent_pid "$INST1")"
start_agent 1
wait_for "agent 1 relisted" synced "$INST1"
sleep_until_sync() { [ "$(dump "$INST1")" = "$watched" ]; }
wait_for "a fresh list gives the same maps" sleep_until_sync && ok "the maps kept by watching equal a fresh list's"

echo "# unlabelling a namespace removes its space, and labelling brings it back"
kc label ns ax azds.io/space- >/dev/null
wait_for "ax gone" dump_lacks "$INST1" "^space dev/alice/ax$" && ok "unlabelled: the space is gone"
kc label ns ax azds.io/space=true >/dev/null
wait_for "ax back" dump_has "$INST1" "^space dev/alice/ax$" && ok "labelled again: the space is back"
kc label ns alice azds.io/space- >/dev/null
wait_for "alice gone" dump_lacks "$INST1" "^space dev/alice" && ok "a parent unlabelled takes its child too"
wait_for "ca gone from the map" dump_lacks "$INST1" "^pod $CA " && ok "and its pods leave the pods map"
expect "dev still routes" "^api@dev$" "$(get dev c1 $U 'azds-route-as: alice')"
kc label ns alice azds.io/space=true >/dev/null
wait_for "alice back" dump_has "$INST1" "^pod $CA dev/alice ca cgroup=yes$" && ok "relabelled: pods come back"

echo "# stop, and k8s-teardown takes azds off node 1"
kill "$(agent_pid "$INST1")" "$(agent_pid "$INST2")" 2>/dev/null || true
PODCG1=/sys/fs/cgroup/unified/azds-k8s-$AZDS_K8S_NAME-n1/kubepods
out=$("$CL" exec 1 "$BIN/azds-controller" -i "$INST1" k8s-teardown --node node-1 --pod-cgroup "$PODCG1" \
	--cni-bin-dir "$S/n1/cni/bin" --cni-conf-dir "$S/n1/cni/net.d" 2>&1) && ok "k8s-teardown: $out" ||
	notok "k8s-teardown failed: $out"
expect_not "no azds-cni in node 1's conflist" "azds-cni" "$(cat "$S/n1/cni/net.d/"*.conflist)"
[ ! -e "$S/n1/cni/bin/azds-cni" ] && ok "no azds-cni binary" || notok "azds-cni binary left"
expect_not "no azds_steer on node 1's interfaces" "azds_steer" \
	"$("$CL" exec 1 sh -c 'for d in $(ls /sys/class/net 2>/dev/null; ip -o link | cut -d: -f2 | cut -d@ -f1); do tc filter show dev $d ingress 2>/dev/null; done')"
expect_not "no local routes of ClusterIPs" "proto 211" "$("$CL" exec 1 ip route show table local)"
expect_not "no azds program on the pods' cgroup" "azds" "$(bpftool cgroup tree "$PODCG1" 2>&1)"
[ ! -e "/sys/fs/bpf/azds/$INST1" ] && [ ! -e "/run/azds/$INST1" ] && ok "the instance's pins and run dir are gone" ||
	notok "instance left: $(ls -d /sys/fs/bpf/azds/$INST1 /run/azds/$INST1 2>&1)"
running dev c1 && ok "node 1's pods keep running" || notok "c1 not running after teardown"
expect "and reach a pod IP directly, unsteered" "^api@dev$" "$(get dev c1 "http://$(kc get pod -n dev api-dev -o jsonpath='{.status.podIP}'):8080/")"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
