#!/bin/bash
# SPDX-License-Identifier: MIT
# azds installed for real users (issue 11 part 7) on the harness's two-node
# cluster (tests/k8s/cluster.sh, its own cluster name kdep): the image made
# by `azds image build` (reproducible) is imported on both nodes;
# deploy/kubernetes/ applied with kubectl as admin runs the node agent as a
# DaemonSet pod on each node, as the azds-node ServiceAccount (in-cluster
# config: the RBAC is enough when both agents sync); a labelled
# namespace's Service reaches the maps; a pod of dev is routed by
# azds-route-as to alice's copy on the other node; the ServiceAccount
# cannot read Secrets nor write outside azds's own objects; then a second
# run through `azds controller install` (idempotent) and `uninstall`, and
# the cluster's objects are as they were before. After each removal (the
# kubectl route with deploy/kubernetes/teardown/, and uninstall's own
# teardown DaemonSet) nothing of azds is left on either node (azds-cni, TC,
# local routes, pins, run dir, cgroup programs) and the pods run on; an
# uninstall whose teardown fails on one node names it, with why, exits 1
# and removes the rest. Needs root, jq and bpftool. Prints "N passed, N
# failed" last; non-zero on a failure.
#
#   tests/k8s-deploy/run.sh BINDIR   (BINDIR holds azds, azds-controller, azds-router, azds-cni, azds-init)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(cd "${1:-$ROOT/build/bin}" && pwd)
CL=$ROOT/tests/k8s/cluster.sh
DEPLOY=$ROOT/deploy/kubernetes
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-kdep}
# the DaemonSet's agents name their instances after their nodes (node-1, node-2)
INST1=node1
INST2=node2
SA=system:serviceaccount:azds:azds-node
pass=0
fail=0

for b in azds azds-controller azds-router azds-cni azds-init; do
	[ -x "$BIN/$b" ] || { echo "no $BIN/$b" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
command -v bpftool >/dev/null || { echo "needs bpftool" >&2; exit 2; }
# a crashed earlier run's scratch directory goes first (one run at a time: the cluster name is shared)
rm -rf /tmp/azds-k8s-deploy.??????
TMP=$(mktemp -d /tmp/azds-k8s-deploy.XXXXXX)

. "$ROOT/tests/k8s/check.sh"

# the --pod-cgroup of the failing-teardown check (under /run/azds: the pods' view of the host's)
PODCG_LINKS=/run/azds/kdep-podcg
purge() {
	"$BIN/azds-controller" -i "$INST1" purge >/dev/null 2>&1 || true
	"$BIN/azds-controller" -i "$INST2" purge >/dev/null 2>&1 || true
	rm -rf "$PODCG_LINKS"
	rmdir /run/azds 2>/dev/null || true
}
cleanup() {
	if [ "$fail" != 0 ] || [ -n "${KEEP:-}" ]; then
		echo "# the agents' logs (last 30 lines each)"
		"$CL" kubectl -n azds logs -l app.kubernetes.io/component=node --tail 30 --prefix 2>/dev/null || true
	fi
	[ -n "${AZDS_K8S_DEPLOY_KEEP:-}" ] && { echo "# kept: $CL down; azds-controller -i $INST1 purge"; return; }
	"$CL" down >/dev/null 2>&1 || true
	purge
	rm -rf "$TMP"
}
trap cleanup EXIT

# A crashed earlier run's cluster and instances go first.
"$CL" down >/dev/null 2>&1 || true
purge
nice -n 19 "$CL" up
eval "$("$CL" env)"
kc() { "$CL" kubectl "$@"; }
# the CLI where the API server answers, never on a terminal, its selection file this run's own
az() {
	set +e
	OUT=$("$CL" exec cp env -u KUBECONFIG -u AZDS_INSTANCE AZDS_CONFIG_DIR="$TMP/config" \
		AZDS_TEARDOWN_WAIT="${AZDS_TEARDOWN_WAIT:-}" \
		"$BIN/azds" --kubeconfig "$KUBECONFIG" "$@" </dev/null 2>"$TMP/err")
	RC=$?
	set -e
	ERR=$(cat "$TMP/err")
}

# What uninstall must leave as it was: every object of the kinds the
# manifests hold or the agents write, and every namespace's labels and
# annotations (the pods of kube-system and such are the harness's own).
state() {
	kc get clusterroles,clusterrolebindings,mutatingwebhookconfigurations,namespaces -o name | sort
	kc get serviceaccounts,roles,rolebindings,daemonsets,services,leases,configmaps -A \
		-o jsonpath='{range .items[*]}{.kind} {.metadata.namespace}/{.metadata.name}{"\n"}{end}' |
		grep -v '^ConfigMap .*/kube-root-ca.crt$' | grep -v '^Lease kube-node-lease/' | sort
	kc get ns -o json | jq -cS '.items[] | {n: .metadata.name, l: (.metadata.labels // {}),
		a: ((.metadata.annotations // {}) | with_entries(select(.key | startswith("azds.io/"))))}'
}
before=$(state)

echo "# the image"
"$BIN/azds" image build -o "$TMP/azds.tar" >"$TMP/build.out"
expect "azds image build names the DaemonSet's image" "image localhost/azds/azds:[0-9.]+," "$(cat "$TMP/build.out")"
IMAGE=$(grep -oE 'localhost/azds/azds:[0-9.]+' "$TMP/build.out" | head -1)
expect_eq "deploy/kubernetes/ runs that image" "$(grep -oE 'image: .*' "$DEPLOY/azds.yaml")" "image: $IMAGE"
"$BIN/azds" image build -o "$TMP/azds2.tar" >/dev/null
cmp -s "$TMP/azds.tar" "$TMP/azds2.tar" && ok "the archive is reproducible (the same bytes twice)" ||
	notok "two builds differ"
mkdir "$TMP/oci"
tar -C "$TMP/oci" -xf "$TMP/azds.tar"
bad=0
for f in "$TMP"/oci/blobs/sha256/*; do
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=1
done
[ $bad = 0 ] && ok "every blob is named by its SHA-256" || notok "a blob's name is not its digest"
layer=$(jq -r '.layers[0].digest' "$TMP/oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$TMP/oci/index.json" | cut -d: -f2)" | cut -d: -f2)
files=$(tar -tf "$TMP/oci/blobs/sha256/$layer")
for f in usr/bin/azds-controller usr/bin/azds-router usr/bin/azds-cni usr/bin/azds-init usr/bin/ip bin/sh \
	lib64/ld-linux-x86-64.so.2 "$(ldd "$BIN/azds-controller" | awk '/libcurl/ { print substr($3, 2) }')"; do
	grep -qx "$f" <<<"$files" || { notok "no $f in the layer"; bad=1; }
done
[ $bad = 0 ] && ok "the layer holds the four binaries, ip, sh and their libraries"
ERR=$("$BIN/azds" image build -o /nonexistent/dir/x.tar 2>&1 >/dev/null || true)
expect "a bad output path is a clear error" "image build: .*/nonexistent/dir/x.tar" "$ERR"
set +e
"$BIN/azds" image build -o "$TMP/x.tar" -t 'no tag' 2>/dev/null
RC=$?
set -e
expect_eq "a bad reference is a usage error (2)" "$RC" 2
for n in 1 2; do
	out=$("$CL" ctr "$n" images import "$TMP/azds.tar" 2>&1) || notok "ctr import on node $n: $out"
done
expect "containerd imported it by its name" "^$IMAGE" "$("$CL" ctr 1 images ls -q 2>/dev/null)"

# busybox-static's wget and nc crash on names: the test pods get Debian's curl
IMG=localhost/azds-k8s/tools:1
"$ROOT/tests/k8s/image.sh" -b -o "$TMP/tools.tar" -n "$IMG" -A /usr/bin/curl:/usr/bin/curl -c '["/bin/sh"]'
for n in 1 2; do "$CL" ctr "$n" images import "$TMP/tools.tar" >/dev/null 2>&1; done

# wait_for WHAT CMD...: CMD succeeds within 120 s (a bounded retry, not a timing)
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 1 600); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	notok "$what: never happened"
	return 1
}
agents_running() { # both nodes have a Running, ready agent pod
	local out
	out=$(kc -n azds get pods -l app.kubernetes.io/component=node \
		-o jsonpath='{range .items[*]}{.spec.nodeName}={.status.phase}/{.status.containerStatuses[0].ready}{"\n"}{end}')
	grep -qx "node-1=Running/true" <<<"$out" && grep -qx "node-2=Running/true" <<<"$out"
}
synced() { grep -q '"synced":true' "/run/azds/$1/k8s/status.json"; }
webhook_patches() {
	kc create --dry-run=server -o jsonpath='{.metadata.labels.azds\.io/space}' -f - <<YAML | grep -qx dev.alice
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dry","namespace":"alice"},
 "spec":{"containers":[{"name":"c","image":"$IMG","imagePullPolicy":"Never"}]}}
YAML
}
one_leader() {
	[ "$(cat "/run/azds/$INST1/k8s/status.json" "/run/azds/$INST2/k8s/status.json" | grep -c '"leader":true')" = 1 ]
}
dump() { "$BIN/azds-controller" -i "$1" k8s-dump; }
dump_has() { dump "$1" | grep -Eq -- "$2"; }
running() { [ "$(kc get pod -n "$1" "$2" -o jsonpath='{.status.phase}')" = Running ]; }
gone() { ! kc get "$@" >/dev/null 2>&1; }
get() { # get NS POD URL [HEADER]
	local h=()
	[ -n "${4:-}" ] && h=(-H "$4")
	kc exec -n "$1" "$2" -- curl -s -S -m 5 "${h[@]}" "$3" 2>&1 || true
}
ns() { # ns NAME [PARENT]
	local labels='"azds.io/space":"true"'
	[ -n "${2:-}" ] && labels="$labels,\"azds.io/parent-space\":\"$2\""
	kc apply -f - >/dev/null <<YAML
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"$1","labels":{$labels}}}
YAML
}
server() { # server NS NAME NODE TEXT
	kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {app: api}}
spec:
  nodeName: node-$3
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo "$4" > /www/index.html && exec httpd -f -p 8080 -h /www']
YAML
}
client() { # client NS NAME NODE
	kc apply -f - >/dev/null <<YAML
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
service() { # service NS
	kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: api, namespace: $1}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
}
# the agents up, synced, with dev's and alice's api in the maps, and routing by route-as across nodes
check_running() { # check_running HOW
	local how=$1 cip
	wait_for "$how: an agent pod Running and ready on each node" agents_running &&
		ok "$how: the DaemonSet runs an agent on each node"
	wait_for "$how: agent of node-1 synced" synced "$INST1" && ok "$how: node-1's agent listed and synced (as $SA)"
	wait_for "$how: agent of node-2 synced" synced "$INST2" && ok "$how: node-2's agent listed and synced"
	# the Lease, its node's address and the webhook's registration, all as the ServiceAccount
	wait_for "$how: a leader" one_leader && ok "$how: exactly one agent leads (Lease azds/azds-leader)"
	wait_for "$how: the leader registers the webhook" kc get mutatingwebhookconfiguration azds-webhook &&
		ok "$how: the leader registered MutatingWebhookConfiguration azds-webhook"
	# the leader's webhook, reached by the API server, patches a new pod of alice
	# (once the API server has read the registration: dry-run pods until one is)
	wait_for "$how: the API server calls the webhook" webhook_patches
	kc delete pod -n alice w --ignore-not-found --wait=true >/dev/null
	client alice w 2
	expect_eq "$how: the webhook labelled a new pod of dev/alice" \
		"$(kc get pod -n alice w -o jsonpath='{.metadata.labels.azds\.io/space}')" dev.alice
	expect "$how: and gave it dev in its DNS search list" "(^| )dev\.svc\.cluster\.local( |$)" \
		"$(kc get pod -n alice w -o jsonpath='{.spec.dnsConfig.searches[*]}')"
	cip=$(kc get svc -n alice api -o jsonpath='{.spec.clusterIP}')
	wait_for "$how: alice's api in node-1's maps" dump_has "$INST1" "^service dev/alice api http $cip:80 ->8080 [0-9.]+$" &&
		ok "$how: a labelled namespace's Service is in the maps (k8s-dump on the host)"
	wait_for "$how: c1 in node-1's pods map" dump_has "$INST1" "^pod $(kc get pod -n dev c1 -o jsonpath='{.status.podIP}') dev c1 " &&
		ok "$how: the client pod is in node-1's pods map"
	expect "$how: dev's pod, no route-as: dev's copy" "^api@dev$" "$(get dev c1 http://api.dev.svc.cluster.local/)"
	expect "$how: route-as alice: alice's copy, on the other node" "^api@alice$" \
		"$(get dev c1 http://api.dev.svc.cluster.local/ 'azds-route-as: alice')"
}

# Nothing of azds on node N (HOW for messages): azds-cni in neither CNI dir
# (the harness binds the node's at /opt/cni/bin and /etc/cni/net.d), no
# azds_steer on any interface of its netns, no local route of proto 211, no
# pins or run dir of its instance, no azds program on its pods' cgroup.
podcg() { echo "/sys/fs/cgroup/unified/azds-k8s-$AZDS_K8S_NAME-n$1/kubepods"; }
node_clean() { # node_clean HOW N
	local how=$1 n=$2 inst=node$2 out
	out=$("$CL" exec "$n" sh -c 'ls /opt/cni/bin; cat /etc/cni/net.d/*.conflist' 2>&1)
	expect_not "$how: node-$n: no azds-cni in /opt/cni/bin nor the conflist" "azds-cni" "$out"
	expect_not "$how: node-$n: nor in the node's own CNI dirs" "azds-cni" "$(ls "$S/n$n/cni/bin"; cat "$S/n$n/cni/net.d/"*.conflist)"
	expect "$how: node-$n: the conflist is still the bridge's" '"type": *"bridge"' "$out"
	out=$("$CL" exec "$n" sh -c 'for d in $(ip -o link 2>/dev/null | cut -d: -f2 | cut -d@ -f1); do
		echo "$d: $(tc filter show dev $d ingress 2>&1) $(tc filter show dev $d egress 2>&1)"; done')
	expect "$how: node-$n: tc looked at its interfaces" "^ *cni0:" "$out"
	expect_not "$how: node-$n: no azds_steer filter on any interface" "azds_steer" "$out"
	expect_not "$how: node-$n: no proto 211 route" "proto 211" "$("$CL" exec "$n" ip route show table all)"
	[ ! -e "/sys/fs/bpf/azds/$inst" ] && ok "$how: node-$n: no /sys/fs/bpf/azds/$inst" ||
		notok "$how: node-$n: pins left: $(ls "/sys/fs/bpf/azds/$inst" 2>&1 | head -5)"
	[ ! -e "/run/azds/$inst" ] && ok "$how: node-$n: no /run/azds/$inst" ||
		notok "$how: node-$n: run dir left: $(ls -R "/run/azds/$inst" 2>&1 | head -5)"
	out=$(bpftool cgroup tree "$(podcg "$n")" 2>&1)
	expect "$how: node-$n: bpftool read the pods' cgroup" "CgroupPath" "$out"
	expect_not "$how: node-$n: no azds program on the pods' cgroup" "azds_" "$out"
}
# and the opposite, before a teardown, so that the checks above look at the right places
node_dirty() { # node_dirty HOW N
	expect "$1: before: azds-cni chained on node-$2" '"type": *"azds-cni"' "$("$CL" exec "$2" sh -c 'cat /etc/cni/net.d/*.conflist')"
	expect "$1: before: the agent's programs on node-$2's pods' cgroup" "azds_connect4" "$(bpftool cgroup tree "$(podcg "$2")" 2>&1)"
	[ -d "/run/azds/node$2" ] && [ -d "/sys/fs/bpf/azds/node$2" ] && ok "$1: before: node$2's run dir and pins" ||
		notok "$1: before: no run dir or pins of node$2"
}
# the test's pods: name=uid/restarts, to see they ran on untouched through a teardown
pods_state() {
	kc get pods -n dev -o json | jq -r '.items[] | "\(.metadata.name)=\(.metadata.uid)/\(.status.phase)/\([.status.containerStatuses[].restartCount] | add)"' | sort
	kc get pods -n alice -o json | jq -r '.items[] | select(.metadata.name != "w") | "\(.metadata.name)=\(.metadata.uid)/\(.status.phase)/\([.status.containerStatuses[].restartCount] | add)"' | sort
}
pods_run_on() { # pods_run_on HOW BEFORE
	expect_eq "$1: the pods run on (the same pods, Running, no restart)" "$(pods_state)" "$2"
	expect "$1: node-1's pod still reaches alice's on node-2 by pod IP" "^api@alice$" \
		"$(get dev c1 "http://$(kc get pod -n alice api-alice -o jsonpath='{.status.podIP}'):8080/")"
}
teardown_pods_gone() { [ -z "$(kc -n azds get pods -l app.kubernetes.io/component=teardown -o name 2>/dev/null)" ]; }

echo "# install from deploy/kubernetes/ with kubectl as admin"
out=$(kc apply -f "$DEPLOY/" 2>&1) || notok "kubectl apply: $out"
expect "kubectl applied the DaemonSet" "daemonset.apps/azds-node (created|configured)" "$out"
expect "kubectl applied the ClusterRole" "clusterrole.rbac.authorization.k8s.io/azds-node (created|configured)" "$out"
expect "kubectl applied the webhook Service" "service/azds-webhook (created|configured)" "$out"
expect_not "kubectl apply -f deploy/kubernetes/ leaves the teardown alone" "azds-teardown" "$out"
expect_eq "the azds namespace is labelled as azds's own" \
	"$(kc get ns azds -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}/{.metadata.labels.azds\.io/install-version}/{.metadata.annotations.azds\.io/install-version}')" "azds/1/1"
expect_eq "the agent runs as the azds-node ServiceAccount" \
	"$(kc -n azds get ds azds-node -o jsonpath='{.spec.template.spec.serviceAccountName}')" azds-node
ns dev
ns alice dev
kc create namespace plain >/dev/null
server dev api-dev 1 "api@dev"
server alice api-alice 2 "api@alice"
service dev
service alice
client dev c1 1
for p in dev:api-dev alice:api-alice dev:c1; do wait_for "pod $p running" running "${p%%:*}" "${p#*:}"; done
check_running kubectl
# the readiness probe is the agent's "synced": run it in node-1's agent, as it is and for a node without one
probe=$(kc -n azds get ds azds-node -o jsonpath='{.spec.template.spec.containers[0].readinessProbe.exec.command[2]}')
apod=$(kc -n azds get pods -l app.kubernetes.io/component=node --field-selector spec.nodeName=node-1 -o name)
expect "the agent's readiness probe reads its status.json" 'status.json' "$probe"
kc -n azds exec "$apod" -- sh -c "$probe" && ok "the probe passes on node-1, whose agent is synced" ||
	notok "the readiness probe fails on a synced agent"
kc -n azds exec "$apod" -- sh -c "NODE_NAME=node-9; $probe" 2>/dev/null && notok "the probe passes for a node with no agent" ||
	ok "and fails for a node whose instance has no status (node-9)"
expect_eq "the webhook Service selects the agents (an endpoint per node)" \
	"$(kc -n azds get endpointslices -l kubernetes.io/service-name=azds-webhook -o json | jq '[.items[].endpoints[]] | length')" 2

echo "# the ServiceAccount's limits (kubectl auth can-i as $SA)"
can() { kc auth can-i "$@" --as "$SA" 2>/dev/null || true; }
expect_eq "cannot get Secrets anywhere" "$(can get secrets -A)" no
expect_eq "cannot list Secrets in azds" "$(can list secrets -n azds)" no
expect_eq "cannot watch Secrets in kube-system" "$(can watch secrets -n kube-system)" no
expect_eq "can list pods (its node's, by field selector)" "$(can list pods -A)" yes
expect_eq "can watch endpointslices" "$(can watch endpointslices.discovery.k8s.io -A)" yes
expect_eq "cannot create pods" "$(can create pods -n dev)" no
expect_eq "cannot patch namespaces" "$(can patch namespaces)" no
expect_eq "cannot update services" "$(can update services -n plain)" no
expect_eq "cannot delete configmaps" "$(can delete configmaps -n plain)" no
expect_eq "can create a Lease in azds" "$(can create leases.coordination.k8s.io -n azds)" yes
expect_eq "cannot create a Lease elsewhere" "$(can create leases.coordination.k8s.io -n plain)" no
expect_eq "can update the Lease azds-leader" "$(can update leases.coordination.k8s.io/azds-leader -n azds)" yes
expect_eq "cannot update another Lease" "$(can update leases.coordination.k8s.io/other -n azds)" no
expect_eq "can update the webhook's registration" "$(can update mutatingwebhookconfigurations/azds-webhook)" yes
expect_eq "cannot update another webhook's" "$(can update mutatingwebhookconfigurations/other)" no
# every write it may do, in an unlabelled namespace: only the webhook's
# registration (cluster-scoped) and the reviews every user may create
writes=$(kc auth can-i --list --as "$SA" -n plain 2>/dev/null | awk 'NR > 1 && $1 !~ /^\[/ && /create|update|patch|delete|\*/ { print $1 }' | sort -u | tr '\n' ' ')
expect_eq "its only writes outside azds: the webhook registration and self-reviews" "$writes" \
	"mutatingwebhookconfigurations.admissionregistration.k8s.io selfsubjectaccessreviews.authorization.k8s.io selfsubjectreviews.authentication.k8s.io selfsubjectrulesreviews.authorization.k8s.io "
expect_eq "nothing of the unlabelled namespace was written by azds" \
	"$(kc get all -n plain -o json | jq '[.items[].metadata.managedFields[]? | select(.manager | test("azds"))] | length')" 0

echo "# removed with kubectl (docs/kubernetes-install.md): the agents, the teardown, the rest"
before_pods=$(pods_state)
for n in 1 2; do node_dirty kubectl "$n"; done
kc -n azds delete daemonset azds-node --wait=true >/dev/null
kc -n azds wait --for=delete pod -l app.kubernetes.io/component=node --timeout=120s >/dev/null 2>&1 ||
	notok "the agents' pods did not go"
out=$(kc apply -f "$DEPLOY/teardown/" 2>&1) || notok "kubectl apply -f deploy/kubernetes/teardown/: $out"
expect "kubectl applied the teardown DaemonSet" "daemonset.apps/azds-teardown created" "$out"
expect_eq "the teardown pod has no service-account token" 	"$(kc -n azds get ds azds-teardown -o jsonpath='{.spec.template.spec.automountServiceAccountToken}')" false
out=$(kc -n azds rollout status daemonset azds-teardown --timeout=120s 2>&1) &&
	ok "kubectl rollout status: the teardown is Ready on every node" || notok "the teardown never got Ready: $out"
expect_eq "a teardown pod on each node, Ready" "$(kc -n azds get pods -l app.kubernetes.io/component=teardown \
	-o jsonpath='{range .items[*]}{.spec.nodeName}={.status.containerStatuses[0].ready}{" "}{end}' | tr ' ' '\n' | sort | tr '\n' ' ')" \
	"node-1=true node-2=true "
expect_eq "no token volume in them" "$(kc -n azds get pods -l app.kubernetes.io/component=teardown -o json |
	jq '[.items[].spec.volumes[] | select(.projected)] | length')" 0
expect "their logs: k8s-teardown removed azds" "node node-[12]: azds removed \\(instance node[12]\\)" \
	"$(kc -n azds logs -l app.kubernetes.io/component=teardown 2>&1)"
kc delete -f "$DEPLOY/teardown/" --wait=true >/dev/null 2>&1 || notok "kubectl delete -f deploy/kubernetes/teardown/"
wait_for "the teardown pods gone" teardown_pods_gone
kc delete -f "$DEPLOY/" --ignore-not-found --wait=true >/dev/null 2>&1 || notok "kubectl delete -f deploy/kubernetes/"
wait_for "namespace azds gone" gone ns azds && ok "kubectl delete -f deploy/kubernetes/ removes azds"
for n in 1 2; do node_clean kubectl "$n"; done
pods_run_on kubectl "$before_pods"
expect "no ClusterRole left" "^$" "$(kc get clusterroles,clusterrolebindings -l app.kubernetes.io/managed-by=azds -o name)"
# (the agent's own webhook registration, if its leader made one, is uninstall's: see below)
kc delete mutatingwebhookconfiguration azds-webhook --ignore-not-found >/dev/null

echo "# a second run through azds controller install"
rm -f "/run/azds/$INST1/k8s/status.json" "/run/azds/$INST2/k8s/status.json"
az controller install -y
expect_eq "azds controller install succeeds" "$RC" 0
expect "it applies the DaemonSet" "Applied DaemonSet azds/azds-node" "$OUT"
expect "and the cluster-scoped RBAC" "Applied ClusterRoleBinding azds-node" "$OUT"
expect_not "it no longer says the manifests are not applied" "not applied" "$OUT"
expect_eq "the DaemonSet runs this build's image" "$(kc -n azds get ds azds-node -o jsonpath='{.spec.template.spec.containers[0].image}')" "$IMAGE"
check_running "azds controller install"
gen=$(kc -n azds get ds azds-node -o jsonpath='{.metadata.generation}')
az controller install -y
expect_eq "install again succeeds" "$RC" 0
expect "install again keeps the namespace" "Namespace azds is azds's own already: kept" "$OUT"
expect_eq "install again changes nothing (the DaemonSet's generation)" "$(kc -n azds get ds azds-node -o jsonpath='{.metadata.generation}')" "$gen"

echo "# azds controller uninstall"
before_pods=$(pods_state)
for n in 1 2; do node_dirty uninstall "$n"; done
az controller uninstall -y
expect_eq "uninstall succeeds" "$RC" 0
expect "uninstall deletes the DaemonSet and waits for the agents" "Deleted DaemonSet azds/azds-node" "$OUT"
expect "uninstall runs the teardown DaemonSet, with this build's image" \
	"Applied DaemonSet azds/azds-teardown \(image $IMAGE\)" "$OUT"
expect "the teardown took azds off node-1" "^Removed azds from node node-1\.$" "$OUT"
expect "and off node-2" "^Removed azds from node node-2\.$" "$OUT"
expect "and is deleted" "Deleted DaemonSet azds/azds-teardown" "$OUT"
expect "uninstall deletes the ClusterRole" "Deleted ClusterRole azds-node" "$OUT"
expect "uninstall deletes the ClusterRoleBinding" "Deleted ClusterRoleBinding azds-node" "$OUT"
expect "uninstall deletes the namespace" "Deleted namespace azds" "$OUT"
expect_not "uninstall names no node left" "still on" "$ERR"
expect "no agent or teardown pod is left" "^$" "$(kc get pods -A -l app.kubernetes.io/name=azds -o name)"
for n in 1 2; do node_clean uninstall "$n"; done
pods_run_on uninstall "$before_pods"
az controller uninstall -y
expect "uninstall again: nothing left" "Nothing of azds is left" "$OUT"
expect_not "uninstall again: no teardown without the azds namespace" "azds-teardown" "$OUT"

echo "# a teardown that fails on one node: named, with why; the rest removed"
az controller install -y
expect_eq "install once more succeeds" "$RC" 0
# --pod-cgroup through a path per node: node-1's the pods' cgroup, node-2's
# a plain file (k8s-teardown: not a directory); uninstall's teardown takes the agent's flags
mkdir -p "$PODCG_LINKS"
ln -sfn "$(podcg 1)" "$PODCG_LINKS/node-1"
: >"$PODCG_LINKS/node-2"
kc -n azds patch ds azds-node --type json -p '[{"op":"add","path":"/spec/template/spec/containers/0/args",
	"value":["--pod-cgroup","'"$PODCG_LINKS"'/$(NODE_NAME)"]}]' >/dev/null
# (node-1's agent Ready, old or new: the rollout stops at node-2's, which fails and restarts)
agent1_ready() {
	kc -n azds get pods -l app.kubernetes.io/component=node --field-selector spec.nodeName=node-1 \
		-o jsonpath='{.items[*].status.containerStatuses[0].ready}' | grep -qx true
}
agent2_restarted() {
	kc -n azds get pods -l app.kubernetes.io/component=node --field-selector spec.nodeName=node-2 -o json |
		jq -e '[.items[] | select(.spec.containers[0].args != null) | .status.containerStatuses[0].restartCount] | max > 0'
}
wait_for "node-1's agent ready" agent1_ready
wait_for "node-2's agent failing on its --pod-cgroup" agent2_restarted
AZDS_TEARDOWN_WAIT=20 az controller uninstall -y
expect_eq "uninstall exits 1 when a node is not done" "$RC" 1
expect "it names node-2 and why: k8s-teardown's own error" \
	"node node-2: azds is still on it after 20 s: k8s-teardown failed \(exit 1, .*Not a directory" "$ERR"
expect "and says what to run there" "run \`azds-controller k8s-teardown\` on it" "$ERR"
expect_not "node-1 is not named" "node node-1" "$ERR"
expect "node-1 was done, through the agent's --pod-cgroup" "^Removed azds from node node-1\.$" "$OUT"
expect "the rest is removed all the same" "Deleted ClusterRoleBinding azds-node" "$OUT"
expect "the namespace too" "Deleted namespace azds" "$OUT"
expect "it ends saying so" "still on 1 node" "$ERR"
expect "no agent or teardown pod is left" "^$" "$(kc get pods -A -l app.kubernetes.io/name=azds -o name)"
node_clean "failed teardown" 1
out=$("$CL" exec 2 "$BIN/azds-controller" -i "$INST2" k8s-teardown --node node-2 --pod-cgroup "$(podcg 2)" \
	--cni-bin-dir "$S/n2/cni/bin" --cni-conf-dir "$S/n2/cni/net.d" 2>&1) &&
	ok "node-2 by hand, as uninstall said: $out" || notok "k8s-teardown on node-2 failed: $out"
node_clean "by hand" 2
rm -rf "$PODCG_LINKS"
rmdir /run/azds 2>/dev/null || true
az controller uninstall -y
expect "uninstall after that: nothing left" "Nothing of azds is left" "$OUT"

# the test's own objects go, and then the cluster must be as before
kc delete ns dev alice plain --wait=true >/dev/null
after=$(state)
if [ "$before" = "$after" ]; then
	ok "after uninstall the cluster's objects and namespace labels are as before install"
else
	notok "the cluster differs after uninstall: $(diff <(echo "$before") <(echo "$after") || true)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
