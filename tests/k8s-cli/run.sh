#!/bin/bash
# SPDX-License-Identifier: MIT
# The CLI against the harness's real cluster (tests/k8s/cluster.sh, its own
# cluster name kcli, one cluster for every check): controller install
# (default labelled, a stale azds namespace replaced, idempotent), space
# select (the labels exactly, a leaf-name clash, an unlabelled namespace
# labelled only with consent, names checked), a hand-labelled pull-request
# namespace in space list, space show, space remove (default refused, a
# space with children refused naming them), list-uris for dev and
# dev/alice, errors naming the kubeconfig and the API's Status, and
# controller uninstall leaving every namespace's labels as before install.
# Needs root. Prints "N passed, N failed" last; non-zero on a failure.
#
#   tests/k8s-cli/run.sh BINDIR     (BINDIR holds azds)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-$ROOT/build/bin}
AZDS=$BIN/azds
CL=$ROOT/tests/k8s/cluster.sh
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-kcli}
pass=0
fail=0

[ -x "$AZDS" ] || { echo "no $AZDS: build the azds target" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }

# ok, notok, expect, expect_not, expect_eq
. "$ROOT/tests/k8s/check.sh"

TMP=
cleanup() {
	"$CL" down >/dev/null 2>&1 || true
	[ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT

# A crashed earlier run's cluster goes first (up does that too).
nice -n 19 "$CL" up
eval "$("$CL" env)"
TMP=$(mktemp -d /tmp/azds-k8s-cli.XXXXXX)
kc() { "$CL" kubectl "$@"; }

# az ARGS: the CLI in the control plane's netns (where the API server
# answers), never on a terminal, with a selection file of this run's own;
# OUT, ERR and RC get what it did.
az_env() {
	"$CL" exec cp env -u KUBECONFIG -u AZDS_INSTANCE AZDS_CONFIG_DIR="$TMP/config" "$@" </dev/null
}
az() {
	set +e
	OUT=$(az_env "$AZDS" --kubeconfig "$KUBECONFIG" "$@" 2>"$TMP/err")
	RC=$?
	set -e
	ERR=$(cat "$TMP/err")
}
# the azds.io/ labels of a namespace, as sorted JSON
azlabels() {
	kc get ns "$1" -o json | jq -cS '.metadata.labels // {} | with_entries(select(.key | startswith("azds.io/")))'
}
# every namespace's labels and azds.io/ annotations, as sorted JSON (NAME -> {labels, annotations})
snapshot() {
	kc get ns -o json | jq -cS '[.items[] | select(.metadata.name != "azds") | {key: .metadata.name, value: {
		labels: (.metadata.labels // {}),
		annotations: ((.metadata.annotations // {}) | with_entries(select(.key | startswith("azds.io/"))))}}]
		| from_entries'
}

echo "# before install: a stale azds namespace (not ours, with something in it), a plain namespace,"
echo "# and a pull-request namespace labelled by hand as Dev Spaces' workflow did"
kc create namespace azds >/dev/null
kc create configmap left-behind -n azds --from-literal=a=b >/dev/null
stale_uid=$(kc get ns azds -o jsonpath='{.metadata.uid}')
kc create namespace plain >/dev/null
kc create namespace pr-42 >/dev/null
kc label namespace pr-42 azds.io/space=true azds.io/parent-space=dev azds.io/pull-request-space=true >/dev/null
before=$(snapshot)

echo "# errors before anything: the kubeconfig's path, -i with --kubeconfig, the API's Status"
set +e
out=$(az_env "$AZDS" --kubeconfig "$TMP/missing.kubeconfig" space list 2>&1)
rc=$?
set -e
expect_eq "a missing kubeconfig: exit 1" "$rc" 1
expect "a missing kubeconfig: named" "missing\.kubeconfig" "$out"
set +e
out=$(az_env "$AZDS" -i foo --kubeconfig "$KUBECONFIG" space list 2>&1)
rc=$?
set -e
expect_eq "-i with --kubeconfig: a usage error" "$rc" 2
cat >"$TMP/bad-token.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: h
  cluster: {server: "https://10.201.0.1:443", certificate-authority: "$S/pki/ca.crt"}
users:
- name: bad
  user: {token: not-a-valid-token}
contexts:
- name: bad
  context: {cluster: h, user: bad}
current-context: bad
EOF
set +e
out=$(az_env "$AZDS" --kubeconfig "$TMP/bad-token.kubeconfig" space list 2>&1)
rc=$?
set -e
expect_eq "a refused token: exit 1" "$rc" 1
expect "a refused token: the API's answer said" "space list: listing the namespaces of https://10.201.0.1:443: .*401" "$out"
set +e
out=$(az_env env KUBECONFIG="$KUBECONFIG" "$AZDS" space list 2>&1)
rc=$?
set -e
expect_eq "\$KUBECONFIG alone selects the cluster" "$rc" 0
expect "\$KUBECONFIG alone: the hand-labelled space listed" "dev/pr-42|pr-42" "$out"

echo "# controller install"
az controller install
expect_eq "install off a terminal without -y: refused (stale azds namespace)" "$RC" 1
expect "install: the stale namespace's reason said" "namespace azds exists and it is not azds's own.*give -y" "$ERR"
expect_eq "install refused: default left unlabelled" "$(azlabels default)" "{}"
expect_eq "install refused: the stale namespace kept" "$(kc get ns azds -o jsonpath='{.metadata.uid}')" "$stale_uid"
az controller install -y
expect_eq "install -y: exit 0" "$RC" 0
echo "$OUT"
expect_eq "install: default labelled a root space, exactly" "$(azlabels default)" '{"azds.io/space":"true"}'
expect "install: default marked as labelled by azds" '"azds.io/labelled-by":"azds-cli"' \
	"$(kc get ns default -o json | jq -c .metadata.annotations)"
new_uid=$(kc get ns azds -o jsonpath='{.metadata.uid}')
if [ -n "$new_uid" ] && [ "$new_uid" != "$stale_uid" ]; then ok "install: the azds namespace replaced (a new uid)"; else
	notok "install: the azds namespace not replaced ($stale_uid -> $new_uid)"; fi
expect_eq "install: the azds namespace is ours" \
	"$(kc get ns azds -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" azds
if kc get configmap left-behind -n azds >/dev/null 2>&1; then notok "install: the stale namespace's configmap is still there"; else
	ok "install: the stale namespace's contents went with it"; fi
expect "install: applies the manifests of deploy/kubernetes/" "Applied the [0-9]+ objects of deploy/kubernetes/ \(image localhost/azds/azds:[0-9.]+\)" "$OUT"
az controller install -y
expect_eq "install again: exit 0" "$RC" 0
expect "install again: the azds namespace kept" "azds's own already: kept" "$OUT"
expect_eq "install again: the same azds namespace" "$(kc get ns azds -o jsonpath='{.metadata.uid}')" "$new_uid"
az space remove -n default -y
expect_eq "remove default: exit 1" "$RC" 1
expect "remove default: refused" "default cannot be removed" "$ERR"
expect "remove default: still there" "Active" "$(kc get ns default -o jsonpath='{.status.phase}')"

echo "# space select"
az space select -n dev/alice
expect_eq "select a new path off a terminal without -y: refused" "$RC" 1
expect "select without -y: says -y" "needs 2 namespaces created or labelled.*give -y" "$ERR"
if kc get ns alice >/dev/null 2>&1; then notok "select without -y created alice"; else ok "select without -y: nothing created"; fi
az space select -n dev/alice -y
expect_eq "select dev/alice -y: exit 0" "$RC" 0
echo "$OUT"
expect_eq "select: alice's labels exactly" "$(azlabels alice)" '{"azds.io/parent-space":"dev","azds.io/space":"true"}'
expect_eq "select: dev's labels exactly (a root: no parent label)" "$(azlabels dev)" '{"azds.io/space":"true"}'
expect "select: alice marked as created by azds" '"azds.io/created-by":"azds-cli"' \
	"$(kc get ns alice -o json | jq -c .metadata.annotations)"
az space select -n qa/alice -y
expect_eq "a leaf name clash: exit 1" "$RC" 1
expect "a clash names both" "space qa/alice: namespace alice is already the space dev/alice" "$ERR"
if kc get ns qa >/dev/null 2>&1; then notok "a clash still created qa"; else ok "a clash: nothing created"; fi
az space select -n dev -y
expect_eq "select an ancestor that exists: exit 0" "$RC" 0
az space select -n alice -y
expect_eq "select alice as a root when it is dev/alice: a clash" "$RC" 1
expect "the root clash names both" "namespace alice is already the space dev/alice" "$ERR"
az space select -n dev/Not_A_Name -y
expect_eq "a bad name: usage error" "$RC" 2
expect "a bad name: said" '"Not_A_Name" is not a namespace name' "$ERR"
az space select -n dev/kube-system -y
expect_eq "a reserved namespace: refused" "$RC" 1
expect "a reserved namespace: said" "namespace kube-system is reserved" "$ERR"
az space select -n dev/plain
expect_eq "an unlabelled namespace off a terminal without -y: refused" "$RC" 1
expect_eq "refused: plain not labelled" "$(azlabels plain)" "{}"
az space select -n dev/plain -y
expect_eq "an unlabelled namespace with -y: exit 0" "$RC" 0
expect "an existing namespace: labelled, not created" "Labelled namespace plain as a space under dev" "$OUT"
expect_eq "plain's labels exactly" "$(azlabels plain)" '{"azds.io/parent-space":"dev","azds.io/space":"true"}'
az space select -n dev/alice
expect_eq "select an existing space without -y: exit 0 (nothing to change)" "$RC" 0

echo "# --context: the selection is kept per cluster and context"
cp "$KUBECONFIG" "$TMP/two.kubeconfig"
kcfg() { "$KBIN/kubectl" --kubeconfig "$TMP/two.kubeconfig" config "$@"; }
kcfg set-context other --cluster="$(kcfg view -o jsonpath='{.contexts[0].context.cluster}')" \
	--user="$(kcfg view -o jsonpath='{.contexts[0].context.user}')" --namespace=dev >/dev/null
# azo ARGS: the CLI with the other context of the same cluster
azo() {
	set +e
	OUT=$(az_env "$AZDS" --kubeconfig "$TMP/two.kubeconfig" --context other "$@" 2>"$TMP/err")
	RC=$?
	set -e
	ERR=$(cat "$TMP/err")
}
azo space show
expect "another context, nothing selected there: its namespace dev" '^Name: +dev$' "$OUT"
azo space select -n dev/pr-42
expect_eq "select in the other context: exit 0" "$RC" 0
azo space show
expect "the other context's selection" '^Name: +dev/pr-42$' "$OUT"
az space show
expect "the first context's selection is its own" '^Name: +dev/alice$' "$OUT"

echo "# space list and show"
az space list
echo "$OUT"
expect "list: the selected space marked" '^\*  +dev/alice +alice +dev +Active' "$OUT"
expect "list: the hand-labelled pull-request namespace is a space" '^ +dev/pr-42 +pr-42 +dev +Active' "$OUT"
expect "list: default" '^ +default +default +- +Active' "$OUT"
expect_not "list: plain namespaces are not spaces" '^ .*kube-system' "$OUT"
az space list -o json
expect_eq "list -o json: pr-42 is a pull-request space" \
	"$(jq -c '.items[] | select(.namespace == "pr-42") | [.name, .pullRequest, .labelledByAzds]' <<<"$OUT")" \
	'["dev/pr-42",true,false]'
expect_eq "list -o json: the selection" "$(jq -r .selected <<<"$OUT")" dev/alice
az space list -o wide
expect "list -o wide: the pull-request column" 'dev/pr-42 +pr-42 +dev +Active +yes' "$OUT"
az space show
expect_eq "show: exit 0" "$RC" 0
expect "show: the selected space by default" '^Name: +dev/alice$' "$OUT"
expect "show: its namespace" '^Namespace: +alice$' "$OUT"
az space show -n dev
expect "show dev: its children" 'Children: +dev/alice' "$OUT"
expect "show dev: every child" '^ +dev/pr-42$' "$OUT"
az space show -n qa/alice
expect_eq "show a missing space: exit 1" "$RC" 1
expect "show a missing space: what alice is instead" "no space qa/alice .*namespace alice is the space dev/alice" "$ERR"

echo "# list-uris: web in dev and in dev/alice, api only in dev"
# web's port is named http (HTTP by its name), api is HTTP by annotation, db's port is named
# 5432-5432 by kubectl (plain TCP): the node agent's rule
web_svc() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $1}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
EOF
}
web_svc dev >"$TMP/web-dev.yaml"
web_svc alice >"$TMP/web-alice.yaml"
kc apply -f "$TMP/web-dev.yaml" >/dev/null
kc apply -f "$TMP/web-alice.yaml" >/dev/null
kc create service clusterip api --tcp=8081:8081 -n dev >/dev/null
kc annotate service api -n dev azds.io/kind=http >/dev/null
kc create service clusterip db --tcp=5432:5432 -n dev >/dev/null
ip_db_dev=$(kc get svc db -n dev -o jsonpath='{.spec.clusterIP}')
ip_web_dev=$(kc get svc web -n dev -o jsonpath='{.spec.clusterIP}')
ip_web_alice=$(kc get svc web -n alice -o jsonpath='{.spec.clusterIP}')
ip_api_dev=$(kc get svc api -n dev -o jsonpath='{.spec.clusterIP}')
az list-uris
echo "$OUT"
expect_eq "list-uris (selected dev/alice): exit 0" "$RC" 0
expect "dev/alice: its own web answers" "^http://web\.alice\.svc\.cluster\.local:80 +${ip_web_alice//./\\.} +web +dev/alice$" "$OUT"
expect "dev/alice: dev's api, which alice lacks" "^http://api\.dev\.svc\.cluster\.local:8081 +${ip_api_dev//./\\.} +api +dev$" "$OUT"
expect_not "dev/alice: dev's web is hidden by alice's" "web\.dev\.svc" "$OUT"
expect "dev/alice: dev's db, plain TCP" "^tcp://db\.dev\.svc\.cluster\.local:5432 +${ip_db_dev//./\\.} +db +dev$" "$OUT"
expect_eq "dev/alice: three rows and the header" "$(wc -l <<<"$OUT")" 4
az list-uris -s dev
echo "$OUT"
expect "dev: its web" "^http://web\.dev\.svc\.cluster\.local:80 +${ip_web_dev//./\\.} +web +dev$" "$OUT"
expect "dev: its api" "^http://api\.dev\.svc\.cluster\.local:8081 +${ip_api_dev//./\\.} +api +dev$" "$OUT"
expect "dev: its db" "^tcp://db\.dev\.svc\.cluster\.local:5432 +${ip_db_dev//./\\.} +db +dev$" "$OUT"
expect_not "dev: never a child's copy" "alice" "$OUT"
az list-uris -s dev/alice -o json
expect_eq "list-uris -o json: service, from, clusterIP" \
	"$(jq -c '[.items[] | [.service, .from, .clusterIP, .port]]' <<<"$OUT")" \
	"[[\"web\",\"dev/alice\",\"$ip_web_alice\",80],[\"api\",\"dev\",\"$ip_api_dev\",8081],[\"db\",\"dev\",\"$ip_db_dev\",5432]]"
az list-uris -s dev/nobody
expect_eq "list-uris of a missing space: exit 1" "$RC" 1
expect "list-uris of a missing space: said" "no space dev/nobody" "$ERR"

echo "# space remove"
az space remove -n dev -y
expect_eq "remove a space with children: exit 1" "$RC" 1
expect "remove with children: names them" "space dev has 3 child spaces \(dev/alice, dev/plain, dev/pr-42\)" "$ERR"
expect "remove refused: dev still there" "Active" "$(kc get ns dev -o jsonpath='{.status.phase}')"
az space select -n dev/alice/tmp1 -y
expect_eq "select a grandchild: exit 0" "$RC" 0
expect_eq "the grandchild's parent label is its parent's namespace" "$(azlabels tmp1)" \
	'{"azds.io/parent-space":"alice","azds.io/space":"true"}'
az space remove -n dev/alice/tmp1 -y
expect_eq "remove dev/alice/tmp1: exit 0" "$RC" 0
expect "remove: said" "Removed space dev/alice/tmp1" "$OUT"
phase=$(kc get ns tmp1 -o jsonpath='{.status.phase}' 2>/dev/null || echo gone)
expect "remove: the namespace is being deleted or gone" "^(Terminating|gone)$" "$phase"
az space show
expect_eq "the removed selection forgotten: show falls back to the context's namespace" "$RC" 0
expect "the fallback is the admin context's namespace, default" '^Name: +default$' "$OUT"
expect "the fallback says so" "^Selected: +yes \(the kubeconfig context's namespace" "$OUT"
az space list
expect "list: the context's namespace marked when none is selected" '^\*  +default +default' "$OUT"
az space remove -n dev/nobody -y
expect_eq "remove a missing space: exit 1" "$RC" 1
az space select -n dev/rt/r1/r2 -y
expect_eq "select a path of three new namespaces: exit 0" "$RC" 0
az space remove -n dev/rt --recursive -y
expect_eq "remove --recursive: exit 0" "$RC" 0
expect_eq "remove --recursive: deepest first" "$(grep -o '^Removed space [^ ]*' <<<"$OUT" | tr '\n' ' ')" \
	"Removed space dev/rt/r1/r2 Removed space dev/rt/r1 Removed space dev/rt "
for ns in rt r1 r2; do
	phase=$(kc get ns "$ns" -o jsonpath='{.status.phase}' 2>/dev/null || echo gone)
	expect "remove --recursive: $ns being deleted or gone" "^(Terminating|gone)$" "$phase"
done

echo "# controller uninstall"
cat >"$TMP/webhook.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: azds-webhook}
webhooks:
- name: pods.azds.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  namespaceSelector: {matchLabels: {azds.io/space: "true"}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  clientConfig: {service: {namespace: azds, name: azds-webhook, port: 443}}
EOF
kc apply -f "$TMP/webhook.yaml" >/dev/null
# another registration of ours under another name (the ownership label), and one that is not ours
sed 's/^metadata: .*/metadata: {name: azds-webhook-old, labels: {"app.kubernetes.io\/managed-by": azds}}/' \
	"$TMP/webhook.yaml" >"$TMP/webhook-old.yaml"
sed 's/^metadata: .*/metadata: {name: someone-elses}/' "$TMP/webhook.yaml" >"$TMP/webhook-other.yaml"
kc apply -f "$TMP/webhook-old.yaml" >/dev/null
kc apply -f "$TMP/webhook-other.yaml" >/dev/null
az controller uninstall -y
expect_eq "uninstall: exit 0" "$RC" 0
echo "$OUT"
[ "$RC" = 0 ] || echo "uninstall's stderr: $ERR"
# The agents' image is not on these nodes: their pods never started. A pod
# deleted while its image cannot be pulled is reported "terminated" (reason
# ContainerStatusUnknown, never started), which is not a node to tear down.
expect "uninstall: no node ran an agent (its image is not on the nodes)" \
	"No node ran a node agent: nothing to take off the nodes" "$OUT"
if kc get ns azds >/dev/null 2>&1; then notok "uninstall: the azds namespace is still there"; else ok "uninstall: the azds namespace is gone"; fi
if kc get mutatingwebhookconfiguration azds-webhook >/dev/null 2>&1; then notok "uninstall: the webhook is still registered"; else
	ok "uninstall: the webhook's registration is gone"; fi
if kc get mutatingwebhookconfiguration azds-webhook-old >/dev/null 2>&1; then
	notok "uninstall: a registration labelled as ours is still there"; else ok "uninstall: every registration labelled as ours is gone"; fi
if kc get mutatingwebhookconfiguration someone-elses >/dev/null 2>&1; then ok "uninstall: another's registration kept"; else
	notok "uninstall: another's registration deleted"; fi
kc delete mutatingwebhookconfiguration someone-elses >/dev/null
after=$(snapshot)
# the namespaces that were there before install, as they were (labels and azds.io/ annotations)
kept=$(jq -cS --argjson b "$before" 'with_entries(select(.key as $k | $b | has($k)))' <<<"$after")
expect_eq "uninstall: every namespace of before install has the labels it had" "$kept" "$before"
expect_eq "uninstall: the hand-labelled pull-request namespace untouched" "$(azlabels pr-42)" \
	'{"azds.io/parent-space":"dev","azds.io/pull-request-space":"true","azds.io/space":"true"}'
for ns in dev alice; do
	expect_eq "uninstall: $ns (created by select) kept, with nothing of azds" \
		"$(jq -c --arg n "$ns" '.[$n] | [(.labels | with_entries(select(.key | startswith("azds.io/")))), .annotations]' <<<"$after")" \
		'[{},{}]'
done
az controller uninstall -y
expect_eq "uninstall again: exit 0" "$RC" 0
expect "uninstall again: nothing left to remove" "Nothing of azds is left" "$OUT"
# (the namespaces remove deleted may still be going away: not compared)
stable() { jq -cS 'with_entries(select(.key as $k | ["default", "plain", "pr-42", "dev", "alice"] | index($k)))'; }
expect_eq "uninstall again: the labels unchanged" "$(snapshot | stable)" "$(stable <<<"$after")"

"$CL" down
trap 'rm -rf "$TMP"' EXIT
if "$CL" leftovers >/dev/null 2>&1; then ok "down left nothing"; else notok "down left something"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
