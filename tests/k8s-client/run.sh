#!/bin/bash
# SPDX-License-Identifier: MIT
# The Kubernetes client (userspace/k8s) against the harness's real cluster
# (tests/k8s/cluster.sh, its own cluster name, so that it can run beside
# the harness's smoke test): create/list/page/watch/patch/delete with the
# admin's client certificate, 410 from a very old resourceVersion and from
# a continue token that etcd compacted, a bad token's 401, a service
# account's in-cluster config, insecure-skip-tls-verify with -data forms,
# and a wrong CA. Needs root. Prints "N passed, N failed" last.
#
#   tests/k8s-client/run.sh BINDIR     (BINDIR holds k8s-client-it)
#   K8S_CLIENT_IT=BINDIR/k8s-client-it-asan tests/k8s-client/run.sh   (the same under ASan/UBSan)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:-$ROOT/build/bin}
IT=${K8S_CLIENT_IT:-$BIN/k8s-client-it}
CL=$ROOT/tests/k8s/cluster.sh
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-kclient}
RUN=r$$
pass=0
fail=0

[ -x "$IT" ] || { echo "no $IT: build the k8s-client-it target" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
TMP=$(mktemp -d /tmp/azds-k8s-client.XXXXXX)

# ok, notok, expect, expect_not, expect_eq
. "$ROOT/tests/k8s/check.sh"

cleanup() {
	"$CL" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# A crashed earlier run's cluster goes first (up does that too).
nice -n 19 "$CL" up
eval "$("$CL" env)"
incp() { "$CL" exec cp "$@"; }
# tally NAME OUTPUT: the driver's "N passed, M failed" added to ours
tally() {
	local p f
	p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$2")
	f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$2")
	if [ -n "$p" ] && [ -n "$f" ]; then
		pass=$((pass + p))
		fail=$((fail + f))
	else
		notok "$1 did not finish"
	fi
}
kc() { "$CL" kubectl "$@"; }

echo "# scenario (admin kubeconfig: client certificate and CA by path)"
out=$(incp "$IT" scenario "$KUBECONFIG" "$RUN" 2>&1) || true
echo "$out"
tally scenario "$out"

echo "# the API server restarts (killed) and etcd compacts meanwhile"
# etcd's JSON gateway (etcd 3.4: /v3/kv/...), on the control plane's loopback.
cat >"$TMP/compact.sh" <<'EOF'
#!/bin/sh
set -e
# writes after page 1, so that there is something to compact past it
for i in 1 2 3; do
	curl -sf -X POST http://127.0.0.1:2379/v3/kv/put -d '{"key":"YXpkcy10ZXN0","value":"eA=="}' >/dev/null
done
rev=$(curl -sf -X POST http://127.0.0.1:2379/v3/kv/range -d '{"key":"AA=="}' |
	sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')
[ -n "$rev" ]
curl -sf -X POST http://127.0.0.1:2379/v3/kv/compaction -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
echo "# etcd compacted at revision $rev" >&2
EOF
chmod +x "$TMP/compact.sh"
rv_before=$(kc get --raw '/api/v1/namespaces?limit=1' | grep -o '"resourceVersion":"[0-9]*"' | head -n1 | tr -dc 0-9)
# The API server is this run's own cluster's: killed with -9 and started
# again with its own command line, in its namespace, under its pid file
# (so that down finds it as it would have).
cat >"$TMP/restart.sh" <<EOF
#!/bin/bash
set -e
pid=\$(cat "$S/pids/apiserver.pid")
mapfile -d '' args </proc/\$pid/cmdline
kill -9 "\$pid"
for i in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
"$TMP/compact.sh"
setsid nsenter --net="$S/netns/cp" -- "\${args[@]}" </dev/null >>"$S/logs/apiserver.log" 2>&1 &
echo \$! >"$S/pids/apiserver.pid"
for i in \$(seq 600); do
	curl -sf --cacert "$S/pki/ca.crt" --cert "$S/pki/admin.crt" --key "$S/pki/admin.key" \\
		https://10.201.0.1:443/readyz >/dev/null 2>&1 && exit 0
	sleep 0.1
done
echo "the API server did not come back" >&2
exit 1
EOF
chmod +x "$TMP/restart.sh"
# A continue token from before: the new API server has no snapshot of its
# resourceVersion in its cache and asks etcd, which compacted past it.
# (Without the restart, the API server may serve the page from its watch
# cache's snapshot whatever etcd compacted: seen both ways.)
out=$(incp "$IT" compact-list "$KUBECONFIG" "$TMP/restart.sh" 2>&1) || true
echo "# $out"
expect "a continue token etcd compacted: -ESTALE, code 410" 'ret=-116 \(ESTALE: list again\) code=410' "$out"
echo "# again, with an informer watching across the restart"
out=$(incp "$IT" informer-restart "$KUBECONFIG" "$RUN" "$TMP/restart.sh" 2>&1) || true
echo "$out"
tally informer-restart "$out"

echo "# 410 from resourceVersions older than the new watch cache (etcd compacted past them)"
for rv in 1 "$rv_before"; do
	out=$(incp "$IT" watch-from "$KUBECONFIG" "$rv" 2>&1) || true
	echo "# $out"
	expect "watch from resourceVersion $rv: -ESTALE, code 410, told apart" \
		'ret=-116 \(ESTALE: list again\) code=410 reason=(Expired|Gone)' "$out"
done

echo "# a bad token"
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
out=$(incp "$IT" get "$TMP/bad-token.kubeconfig" /api/v1/namespaces 2>&1) || true
echo "# $out"
expect "a bad token: -EACCES, 401 Unauthorized, said plainly" \
	'ret=-13 http=401 code=401 reason=Unauthorized: GET /api/v1/namespaces: 401 Unauthorized.*refused the token' "$out"

echo "# in-cluster config from a service account's token"
kc create serviceaccount kc-sa -n default >/dev/null
mkdir -p "$TMP/sa"
kc create token kc-sa -n default >"$TMP/sa/token"
cp "$S/pki/ca.crt" "$TMP/sa/ca.crt"
echo default >"$TMP/sa/namespace"
out=$(incp env SA_DIR="$TMP/sa" KUBERNETES_SERVICE_HOST=10.203.0.1 KUBERNETES_SERVICE_PORT=443 \
	"$IT" get - /version 2>&1) || true
expect "in-cluster: the service account reads /version at the kubernetes Service's address" '^ok$' "$out"
out=$(incp env SA_DIR="$TMP/sa" KUBERNETES_SERVICE_HOST=10.203.0.1 KUBERNETES_SERVICE_PORT=443 \
	"$IT" get - /api/v1/namespaces 2>&1) || true
echo "# $out"
expect "in-cluster: the service account may not list namespaces: -EPERM 403 naming it" \
	'ret=-1 http=403 code=403 reason=Forbidden: .*system:serviceaccount:default:kc-sa' "$out"

echo "# a rotated token: tokenFile replaced after loading; the 401 re-reads it"
echo stale-token >"$TMP/sa/rot-token"
cp "$TMP/sa/token" "$TMP/sa/new-token"
cat >"$TMP/rotate.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: h
  cluster: {server: "https://10.201.0.1:443", certificate-authority: sa/ca.crt}
users:
- name: sa
  user: {tokenFile: sa/rot-token}
contexts:
- name: sa
  context: {cluster: h, user: sa}
current-context: sa
EOF
out=$(incp "$IT" get-rotate "$TMP/rotate.kubeconfig" /version "$TMP/sa/new-token" 2>&1) || true
expect "a token rotated under the client: re-read on 401, the request succeeds" '^ok$' "$out"

echo "# insecure-skip-tls-verify, with the client certificate as -data"
cat >"$TMP/insecure.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: h
  cluster:
    server: https://10.201.0.1:443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 "$S/pki/admin.crt")
    client-key-data: $(base64 -w0 "$S/pki/admin.key")
contexts:
- name: x
  context: {cluster: h, user: admin}
current-context: x
EOF
out=$(incp "$IT" get "$TMP/insecure.kubeconfig" /api/v1/namespaces/kube-system 2>&1) || true
expect "insecure-skip-tls-verify and -data: the admin reads kube-system" '^ok$' "$out"

echo "# a CA that did not sign the server's certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/other.key" \
	-out "$TMP/other.crt" -days 1 -subj /CN=other 2>/dev/null
sed "s|certificate-authority: \"$S/pki/ca.crt\"|certificate-authority: \"$TMP/other.crt\"|" \
	"$TMP/bad-token.kubeconfig" >"$TMP/wrong-ca.kubeconfig"
out=$(incp "$IT" get "$TMP/wrong-ca.kubeconfig" /version 2>&1) || true
echo "# $out"
expect "a wrong CA: -EPROTO, the TLS failure said" 'ret=-71 http=0 .*(certificate|SSL)' "$out"

"$CL" down
trap 'rm -rf "$TMP"' EXIT
if "$CL" leftovers >/dev/null 2>&1; then ok "down left nothing"; else notok "down left something"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
