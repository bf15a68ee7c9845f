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
# the cluster's objects are as they were before. Needs root and jq. Prints
# "N passed, N failed" last; non-zero on a failure.
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
TMP=$(mktemp -d /tmp/azds-k8s-deploy.XXXXXX)

ok() { pass=$((pass + 1)); echo "ok $*"; }
notok() { fail=$((fail + 1)); echo "not ok $*"; }
expect() {
	if grep -Eq -- "$2" <<<"$3"; then ok "$1"; else notok "$1: wanted /$2/ in: $3"; fi
}
expect_not() {
	if grep -Eq -- "$2" <<<"$3"; then notok "$1: did not want /$2/ in: $3"; else ok "$1"; fi
}
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: wanted [$3], got [$2]"; fi
}

purge() {
	"$BIN/azds-controller" -i "$INST1" purge >/dev/null 2>&1 || true
	"$BIN/azds-controller" -i "$INST2" purge >/dev/null 2>&1 || true
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

echo "# install from deploy/kubernetes/ with kubectl as admin"
out=$(kc apply -f "$DEPLOY/" 2>&1) || notok "kubectl apply: $out"
expect "kubectl applied the DaemonSet" "daemonset.apps/azds-node (created|configured)" "$out"
expect "kubectl applied the ClusterRole" "clusterrole.rbac.authorization.k8s.io/azds-node (created|configured)" "$out"
expect "kubectl applied the webhook Service" "service/azds-webhook (created|configured)" "$out"
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

echo "# removed with kubectl"
kc delete -f "$DEPLOY/" --wait=true >/dev/null 2>&1 || notok "kubectl delete -f deploy/kubernetes/"
wait_for "namespace azds gone" gone ns azds && ok "kubectl delete -f deploy/kubernetes/ removes azds"
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
az controller uninstall -y
expect_eq "uninstall succeeds" "$RC" 0
expect "uninstall deletes the DaemonSet and waits for the agents" "Deleted DaemonSet azds/azds-node" "$OUT"
expect "uninstall deletes the ClusterRole" "Deleted ClusterRole azds-node" "$OUT"
expect "uninstall deletes the ClusterRoleBinding" "Deleted ClusterRoleBinding azds-node" "$OUT"
expect "uninstall deletes the namespace" "Deleted namespace azds" "$OUT"
expect "no agent pod is left" "^$" "$(kc get pods -A -l app.kubernetes.io/name=azds -o name)"
az controller uninstall -y
expect "uninstall again: nothing left" "Nothing of azds is left" "$OUT"
# the test's own objects go, and then the cluster must be as before
kc delete ns dev alice plain --wait=true >/dev/null
after=$(state)
if [ "$before" = "$after" ]; then
	ok "after uninstall the cluster's objects and namespace labels are as before install"
else
	notok "the cluster differs after uninstall: $(diff <(echo "$before") <(echo "$after") || true)"
fi
# what the nodes keep: the agent leaves the data plane serving when it stops
# (docs/kubernetes-install.md); not a check, a record
grep -l azds-cni "$S"/n*/cni/net.d/*.conflist >/dev/null 2>&1 &&
	echo "# note: azds-cni is still chained in the nodes' conflists after uninstall (the agent keeps it)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
