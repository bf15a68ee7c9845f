#!/bin/bash
# SPDX-License-Identifier: MIT
# The admission webhook on the harness's real cluster (tests/k8s/cluster.sh,
# its own cluster name "kwh"): webhook-it serves inside node 1's network
# namespace on 10.201.0.11 and registers itself by URL; a pod created in
# dev/alice has the space label and the DNS search list in its spec, its
# resolv.conf walks to dev, and a name that only dev has resolves from
# alice; a pod of an unlabelled namespace is not touched. The webhook down:
# the pod is still created, unpatched (failurePolicy Ignore). The webhook
# slower than timeoutSeconds: the same. The CA rotated with short lives:
# re-registered with both CAs, and every pod patched across the rotation.
# Unregistered: no MutatingWebhookConfiguration left. Needs root. Prints "N passed, N failed".
#
#   tests/webhook/cluster.sh BINDIR     (BINDIR holds webhook-it)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-$ROOT/build/bin}
IT=${WEBHOOK_IT:-$BIN/webhook-it}
CL=$ROOT/tests/k8s/cluster.sh
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-kwh}
NAME=azds-webhook-test
ADDR=10.201.0.11
PORT=9443
URL=https://$ADDR:$PORT/mutate
pass=0
fail=0
WPID=

[ -x "$IT" ] || { echo "no $IT: build the webhook-it target" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }

ok() { pass=$((pass + 1)); echo "ok $*"; }
notok() { fail=$((fail + 1)); echo "not ok $*"; }
same() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: wanted [$2] got [$3]"; fi; }

# An earlier run killed before its trap left its dir (named by its pid): gone now
# (its cluster, webhook process and registration go with "up" below).
for d in /tmp/azds-webhook-cluster.*.*; do
	[ -d "$d" ] || continue
	p=${d#/tmp/azds-webhook-cluster.}
	kill -0 "${p%%.*}" 2>/dev/null || rm -rf "$d"
done
TMP=$(mktemp -d /tmp/azds-webhook-cluster.$$.XXXXXX)
stop_webhook() {
	local i
	[ -n "$WPID" ] || return 0
	kill "$WPID" 2>/dev/null || true
	for i in $(seq 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
	WPID=
}
cleanup() {
	stop_webhook
	"$CL" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# A crashed earlier run's cluster goes first (up does that too).
nice -n 19 "$CL" up
eval "$("$CL" env)"
kc() { "$CL" kubectl "$@"; }

# start_webhook LOG ARGS...: serve in node 1, registered; returns once ready
start_webhook() {
	local log=$1 i
	shift
	rm -f "$TMP/port" "$TMP/pid"
	"$CL" exec 1 "$IT" serve --listen "$ADDR" --port "$PORT" --ip "$ADDR" --state "${STATE:-$TMP/state}" \
		--spaces "$TMP/spaces" --pid-file "$TMP/pid" --port-file "$TMP/port" \
		--kubeconfig "$KUBECONFIG" --register "$NAME" --url "$URL" "$@" >"$TMP/$log" 2>&1 &
	for i in $(seq 300); do
		[ -s "$TMP/port" ] && break
		sleep 0.1
	done
	WPID=$(cat "$TMP/pid" 2>/dev/null || true)
	[ -s "$TMP/port" ] || { cat "$TMP/$log"; echo "the webhook did not start" >&2; exit 1; }
}
# pod NS NAME [LABELS-JSON]: the JSON of a busybox pod on node-1
pod() {
	jq -cn --arg ns "$1" --arg n "$2" --argjson l "${3:-{\}}" '{apiVersion:"v1",kind:"Pod",
	  metadata:{name:$n,namespace:$ns,labels:$l},
	  spec:{nodeName:"node-1",terminationGracePeriodSeconds:0,
	    containers:[{name:"c",image:"localhost/azds-k8s/busybox:1",imagePullPolicy:"Never",command:["/bin/sleep","infinity"]}]}}'
}
# spec_of NS NAME: "LABELS DNSCONFIG" of the created pod
spec_of() {
	kc get pod -n "$1" "$2" -o json | jq -c '[.metadata.labels, .spec.dnsConfig]'
}

echo "# spaces dev and dev/alice, and a namespace that is none"
kc create namespace dev >/dev/null
kc label namespace dev azds.io/space=true >/dev/null
kc create namespace alice >/dev/null
kc label namespace alice azds.io/space=true azds.io/parent-space=dev >/dev/null
kc create namespace plain >/dev/null
mkdir -p "$TMP/spaces"
echo dev >"$TMP/spaces/dev"
echo dev/alice >"$TMP/spaces/alice"
# (a test of the webhook alone: the node agent writes these files in /run/azds/INST/k8s/spaces)
echo dev/plain >"$TMP/spaces/plain" # the namespace selector must keep it from the webhook all the same
for ns in dev alice plain; do
	for i in $(seq 300); do kc get serviceaccount default -n $ns >/dev/null 2>&1 && break; sleep 0.1; done
done
# a Service that only dev has (no selector: CoreDNS answers its ClusterIP all the same)
kc create service clusterip only-dev -n dev --tcp=80:80 >/dev/null
dev_ip=$(kc get service only-dev -n dev -o jsonpath='{.spec.clusterIP}')

echo "# the webhook in node 1, registered by URL"
start_webhook serve1.log
same "registered" 1 "$(grep -c "register $NAME: ok" "$TMP/serve1.log")"
cfg=$(kc get mutatingwebhookconfiguration "$NAME" -o json)
same "the configuration: url, failure policy, timeout, side effects, versions, selector, rules" \
	"$URL Ignore 3 None [\"v1\"] {\"azds.io/space\":\"true\"} [{\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],\"operations\":[\"CREATE\"],\"resources\":[\"pods\"],\"scope\":\"Namespaced\"}]" \
	"$(jq -r '.webhooks[0] | "\(.clientConfig.url) \(.failurePolicy) \(.timeoutSeconds) \(.sideEffects) \(.admissionReviewVersions|tojson) \(.namespaceSelector.matchLabels|tojson) \(.rules|tojson)"' <<<"$cfg")"
same "its caBundle is the bundle the webhook published" "$(cat "$TMP/state/ca-bundle.pem")" \
	"$(jq -r '.webhooks[0].clientConfig.caBundle' <<<"$cfg" | base64 -d)"

# A dry run (nothing is created): the label the webhook gave, or ""
pod alice probe >"$TMP/probe.json"
probe() {
	kc create -f "$TMP/probe.json" --dry-run=server -o json 2>/dev/null | jq -r '.metadata.labels["azds.io/space"] // ""'
}
# The API server learns of a new configuration by watch: ask until the answer is patched, bounded.
wait_patched() {
	local i
	for i in $(seq 100); do
		got=$(probe)
		[ "$got" = dev.alice ] && break
		sleep 0.2
	done
}
wait_patched
same "the API server calls the webhook (a dry run is patched)" dev.alice "$got"

echo "# a pod of dev/alice"
pod alice p1 '{"app":"web"}' >"$TMP/p1.json"
t0=$(date +%s%3N)
kc create -f "$TMP/p1.json" >/dev/null
echo "# kubectl create through the webhook: $(($(date +%s%3N) - t0)) ms"
pod plain q0 >"$TMP/q0.json"
t0=$(date +%s%3N)
kc create -f "$TMP/q0.json" >/dev/null
echo "# kubectl create without it (an unlabelled namespace): $(($(date +%s%3N) - t0)) ms"
same "the created pod: its label kept, the space's added; the search list walks to dev" \
	'[{"app":"web","azds.io/space":"dev.alice"},{"searches":["alice.svc.cluster.local","dev.svc.cluster.local"]}]' \
	"$(spec_of alice p1)"
same "nothing else: one container, no init containers" "1 0" \
	"$(kc get pod -n alice p1 -o json | jq -r '"\(.spec.containers|length) \(.spec.initContainers // []|length)"')"
if grep -q "ns=alice pod=p1 op=CREATE: space dev/alice, 2 operations" "$TMP/serve1.log"; then
	ok "the webhook logged it"
else
	notok "not in the webhook's log: $(tail -n 5 "$TMP/serve1.log")"
fi
pod plain q1 '{"app":"web"}' >"$TMP/q1.json"
kc create -f "$TMP/q1.json" >/dev/null
same "a pod of an unlabelled namespace: untouched" '[{"app":"web"},null]' "$(spec_of plain q1)"
same "... and never sent to the webhook (namespaceSelector)" 0 "$(grep -c "ns=plain" "$TMP/serve1.log" || true)"

if kc wait -n alice --for=condition=Ready pod/p1 --timeout=120s >/dev/null; then
	rc=$(kc exec -n alice p1 -- cat /etc/resolv.conf 2>&1 | sed -n 's/^search //p' || true)
	same "the running pod's resolv.conf: kubelet's list, then dev's" \
		"alice.svc.cluster.local svc.cluster.local cluster.local dev.svc.cluster.local" "$rc"
	out=$(kc exec -n alice p1 -- nslookup only-dev 2>&1 || true)
	echo "$out" | sed 's/^/# /'
	got=$(sed -n '/^Name:/,$s/^Address: *//p' <<<"$out" | head -n1)
	same "a name only dev has resolves from alice by its short name, as only-dev.dev.svc.cluster.local" \
		"only-dev.dev.svc.cluster.local $dev_ip" "$(sed -n 's/^Name:[[:space:]]*//p' <<<"$out" | head -n1) $got"
else
	notok "p1 never Running"
	kc describe pod -n alice p1 | tail -20
fi

echo "# the webhook down: pods are created all the same, unpatched"
stop_webhook
pod alice p2 '{"app":"web"}' >"$TMP/p2.json"
if kc create -f "$TMP/p2.json" >/dev/null 2>"$TMP/p2.err"; then ok "created with the webhook down"; else notok "not created: $(cat "$TMP/p2.err")"; fi
same "unpatched" '[{"app":"web"},null]' "$(spec_of alice p2 2>&1)"
same "while still registered" "$NAME" "$(kc get mutatingwebhookconfiguration "$NAME" -o jsonpath='{.metadata.name}')"

echo "# the webhook slower than timeoutSeconds (3 s): answers after 8 s"
start_webhook serve2.log --delay-ms 8000
same "registered again (an update of the existing configuration)" 1 "$(grep -c "register $NAME: ok" "$TMP/serve2.log")"
pod alice p3 '{"app":"web"}' >"$TMP/p3.json"
t0=$(date +%s%3N)
if kc create -f "$TMP/p3.json" >/dev/null 2>"$TMP/p3.err"; then ok "created with the webhook slow"; else notok "not created: $(cat "$TMP/p3.err")"; fi
t1=$(date +%s%3N)
same "unpatched" '[{"app":"web"},null]' "$(spec_of alice p3 2>&1)"
for i in $(seq 100); do grep -q "pod=p3 .*(answer delayed)" "$TMP/serve2.log" && break; sleep 0.1; done
if grep -q "pod=p3 op=CREATE: space dev/alice, 2 operations (answer delayed)" "$TMP/serve2.log"; then
	ok "the API server did call it, and went on without the answer ($((t1 - t0)) ms)"
else
	notok "the slow webhook never saw p3: $(tail -n 5 "$TMP/serve2.log")"
fi
stop_webhook

echo "# the CA rotates under the API server (CA 45 s, serving 15 s): every pod patched all along"
STATE=$TMP/state-rot
start_webhook serve3.log --ca-life 45 --cert-life 15 --check-ms 200
wait_patched
same "a new CA registered and in use" dev.alice "$got"
ca0=$(openssl x509 -in "$STATE/ca.pem" -noout -fingerprint)
rounds=0
unpatched=0
# Until the serving certificate is the new CA's and 5 rounds after (bounded: 90 s).
after=0
for i in $(seq 450); do
	rounds=$((rounds + 1))
	[ "$(probe)" = dev.alice ] || { unpatched=$((unpatched + 1)); echo "# round $i: unpatched"; }
	if [ "$(openssl x509 -in "$STATE/ca.pem" -noout -fingerprint)" != "$ca0" ] &&
		openssl verify -CAfile <(openssl x509 -in "$STATE/ca.pem") "$STATE/serving.pem" >/dev/null 2>&1; then
		after=$((after + 1))
		[ "$after" -ge 5 ] && break
	fi
	sleep 0.2
done
same "every one of $rounds dry runs across the rotation was patched" 0 "$unpatched"
same "the serving certificate moved to the new CA" 5 "$after"
same "re-registered when the CA rotated" 2 "$(grep -c "register $NAME: ok" "$TMP/serve3.log")"
same "the registered caBundle holds both CAs" 2 \
	"$(kc get mutatingwebhookconfiguration "$NAME" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | base64 -d | grep -c 'BEGIN CERTIFICATE')"
stop_webhook

echo "# unregistered"
out=$("$CL" exec cp "$IT" unregister "$KUBECONFIG" "$NAME" 2>&1 || true)
same "unregister" ok "$out"
same "no MutatingWebhookConfiguration left" "" "$(kc get mutatingwebhookconfigurations -o name)"
out=$("$CL" exec cp "$IT" unregister "$KUBECONFIG" "$NAME" 2>&1 || true)
same "unregister again: nothing to do, no error" ok "$out"

"$CL" down
trap 'rm -rf "$TMP"' EXIT
if "$CL" leftovers >/dev/null 2>&1; then ok "down left nothing"; else notok "down left something"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
