#!/bin/bash
# SPDX-License-Identifier: MIT
# The admission webhook without a cluster: webhook-it serves on 127.0.0.1
# and Debian's curl posts real AdmissionReview bodies to it, verifying the
# server against the CA bundle the webhook published. Checks the exact
# JSONPatch operations (decoded from base64), the pods it must leave alone,
# hostile bodies (400/413/431, and the server still answers afterwards),
# a CA it did not make, a corrupt state file, and rotation with short
# lives: serving all along, the bundle holding both CAs for the overlap.
# Prints "N passed, N failed" last.
#
#   tests/webhook/local.sh BINDIR      (BINDIR holds webhook-it)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-$HERE/../../build/bin}
IT=${WEBHOOK_IT:-$BIN/webhook-it}
[ -x "$IT" ] || { echo "no $IT: build the webhook-it target" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
# An earlier run killed before its trap left its dir (named by its pid): gone now.
for d in /tmp/azds-webhook-local.*.*; do
	[ -d "$d" ] || continue
	p=${d#/tmp/azds-webhook-local.}
	kill -0 "${p%%.*}" 2>/dev/null || rm -rf "$d"
done
TMP=$(mktemp -d /tmp/azds-webhook-local.$$.XXXXXX)
pass=0
fail=0
PIDS=()

ok() { pass=$((pass + 1)); echo "ok $*"; }
notok() { fail=$((fail + 1)); echo "not ok $*"; }
# same WHAT WANT GOT
same() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: wanted [$2] got [$3]"; fi; }

# stop_all: stop the servers; each must exit 0 (under ASan: no leak, no error)
stop_all() {
	local p rc
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		rc=0
		wait "$p" 2>/dev/null || rc=$?
		[ "$rc" = 0 ] || notok "webhook-it (pid $p) exited $rc"
	done
	PIDS=()
	if grep -l "Sanitizer\|runtime error" "$TMP"/*.log 2>/dev/null; then
		notok "sanitizer reports: $(grep -h -A12 "Sanitizer\|runtime error" "$TMP"/*.log | head -40)"
	fi
}
cleanup() {
	stop_all >/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME ARGS...: serve in the background on a free port; PORT is set when it is ready
start() {
	local name=$1 i
	shift
	rm -f "$TMP/$name.port"
	"$IT" serve --listen 127.0.0.1 --port 0 --ip 127.0.0.1 --dns localhost --spaces "$TMP/spaces" \
		--port-file "$TMP/$name.port" "$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	for i in $(seq 200); do
		[ -s "$TMP/$name.port" ] && break
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$TMP/$name.port" ] || { cat "$TMP/$name.log"; echo "webhook-it $name did not start" >&2; exit 1; }
	PORT=$(cat "$TMP/$name.port")
}

mkdir -p "$TMP/spaces"
echo dev >"$TMP/spaces/dev"
echo dev/alice >"$TMP/spaces/alice"
echo dev/alice/x >"$TMP/spaces/x"

# review UID NS OBJECT [KIND [OPERATION]]: an AdmissionReview body
review() {
	jq -cn --arg uid "$1" --arg ns "$2" --argjson obj "$3" --arg kind "${4:-Pod}" --arg op "${5:-CREATE}" \
		'{apiVersion:"admission.k8s.io/v1",kind:"AdmissionReview",request:{uid:$uid,
		 kind:{group:"",version:"v1",kind:$kind},resource:{group:"",version:"v1",resource:"pods"},
		 requestKind:{group:"",version:"v1",kind:$kind},namespace:$ns,operation:$op,
		 userInfo:{username:"admin"},object:$obj,oldObject:null,dryRun:false}}'
}
# post BODYFILE: "HTTP-CODE" on the first line, the body after
post() {
	curl -sS --max-time 20 --cacert "$STATE/ca-bundle.pem" -H 'Content-Type: application/json' \
		--data-binary @"$1" -o "$TMP/resp" -w '%{http_code}\n' "https://127.0.0.1:$PORT/mutate?timeout=3s" || true
	cat "$TMP/resp" 2>/dev/null || true
}
# mutate NAME UID NS OBJECT [KIND [OP]]: sets CODE, RESP (the review) and PATCH (decoded, or "none")
mutate() {
	review "$2" "$3" "$4" "${5:-Pod}" "${6:-CREATE}" >"$TMP/$1.json"
	local out
	out=$(post "$TMP/$1.json")
	CODE=$(head -n1 <<<"$out")
	RESP=$(tail -n +2 <<<"$out")
	PATCH=$(jq -r '.response.patch // "none"' <<<"$RESP" 2>/dev/null || echo "not json")
	[ "$PATCH" = none ] || [ "$PATCH" = "not json" ] || PATCH=$(base64 -d <<<"$PATCH" | jq -c .)
}

STATE=$TMP/state
start main --state "$STATE" --read-timeout-ms 1500

echo "# served over TLS that curl verifies with the published bundle"
same "/healthz over verified TLS" "ok" "$(curl -sS --cacert "$STATE/ca-bundle.pem" "https://127.0.0.1:$PORT/healthz")"
same "the CA and serving keys are 0600, the bundle 0644" "600 600 644" \
	"$(stat -c %a "$STATE/ca.pem") $(stat -c %a "$STATE/serving.pem") $(stat -c %a "$STATE/ca-bundle.pem")"
same "the serving certificate names 127.0.0.1 and localhost" "DNS:localhost, IP Address:127.0.0.1" \
	"$(openssl x509 -in "$STATE/serving.pem" -noout -ext subjectAltName | tail -n1 | sed 's/^ *//')"
same "ECDSA P-256" "prime256v1" \
	"$(openssl x509 -in "$STATE/serving.pem" -noout -text | sed -n 's/.*ASN1 OID: //p' | head -n1)"

echo "# a pod of dev/alice with nothing of its own"
mutate a u-a alice '{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}'
same "200" 200 "$CODE"
same "same uid, allowed, JSONPatch" 'u-a true JSONPatch' "$(jq -r '.response | "\(.uid) \(.allowed) \(.patchType)"' <<<"$RESP")"
same "the kind of the answer" 'admission.k8s.io/v1 AdmissionReview' "$(jq -r '"\(.apiVersion) \(.kind)"' <<<"$RESP")"
same "labels made, dnsConfig made: the exact operations" \
	'[{"op":"add","path":"/metadata/labels","value":{"azds.io/space":"dev.alice"}},{"op":"add","path":"/spec/dnsConfig","value":{"searches":["alice.svc.cluster.local","dev.svc.cluster.local"]}}]' \
	"$PATCH"

echo "# a grandchild, with labels and a dnsConfig of its own"
mutate b u-b x '{"metadata":{"name":"q","labels":{"app":"web","azds.io/space":"stale"}},"spec":{"dnsPolicy":"ClusterFirst","dnsConfig":{"options":[{"name":"ndots","value":"2"}],"searches":["corp.example","dev.svc.cluster.local"]},"containers":[{"name":"c","image":"i"}]}}'
same "labels kept, ours replaced with ~1, searches appended after the pod's own, no duplicate" \
	'[{"op":"add","path":"/metadata/labels/azds.io~1space","value":"dev.alice.x"},{"op":"add","path":"/spec/dnsConfig/searches/-","value":"x.svc.cluster.local"},{"op":"add","path":"/spec/dnsConfig/searches/-","value":"alice.svc.cluster.local"}]' \
	"$PATCH"
mutate b2 u-b2 x '{"metadata":{"labels":{"app":"web"}},"spec":{"dnsConfig":{"nameservers":["1.1.1.1"]},"containers":[]}}'
same "labels added beside the pod's, searches added to a dnsConfig without them" \
	'[{"op":"add","path":"/metadata/labels/azds.io~1space","value":"dev.alice.x"},{"op":"add","path":"/spec/dnsConfig/searches","value":["x.svc.cluster.local","alice.svc.cluster.local","dev.svc.cluster.local"]}]' \
	"$PATCH"
mutate b3 u-b3 dev '{"metadata":{"labels":{"azds.io/space":"dev"}},"spec":{"dnsConfig":{"searches":["dev.svc.cluster.local"]}}}'
same "a pod that has it all already: allowed, no patch" 'none true' "$PATCH $(jq -r .response.allowed <<<"$RESP")"
mutate b4 u-b4 alice '{"spec":{"containers":[]}}'
same "no metadata at all: made with the label" \
	'{"op":"add","path":"/metadata","value":{"labels":{"azds.io/space":"dev.alice"}}}' "$(jq -c '.[0]' <<<"$PATCH")"

echo "# a space path longer than a label value (63): cut at 54, with a hash of the whole"
a30=$(printf 'a%.0s' $(seq 30))
b30=$(printf 'b%.0s' $(seq 30))
echo "$a30/$b30/leafns" >"$TMP/spaces/leafns"
mutate l u-l leafns '{"metadata":{},"spec":{}}'
lv=$(jq -r '.[0].value["azds.io/space"]' <<<"$PATCH")
if [[ $lv =~ ^$a30\.b{23}-[0-9a-f]{8}$ ]]; then ok "label $lv (${#lv} characters)"; else notok "label [$lv]"; fi
same "its searches: the leaf, then each ancestor" "leafns.svc.cluster.local $b30.svc.cluster.local $a30.svc.cluster.local" \
	"$(jq -r '.[1].value.searches|join(" ")' <<<"$PATCH")"
mutate l2 u-l2 leafns '{"metadata":{},"spec":{}}'
same "the same path, the same label" "$lv" "$(jq -r '.[0].value["azds.io/space"]' <<<"$PATCH")"

echo "# DNS policies that do not use the cluster's DNS: the label only"
for spec in '{"dnsPolicy":"None","dnsConfig":{"nameservers":["1.1.1.1"]}}' '{"dnsPolicy":"Default"}' '{"hostNetwork":true}'; do
	mutate c u-c alice "{\"metadata\":{},\"spec\":$spec}"
	same "spec $spec: only the label" '[{"op":"add","path":"/metadata/labels","value":{"azds.io/space":"dev.alice"}}]' "$PATCH"
done
mutate c2 u-c2 alice '{"metadata":{},"spec":{"hostNetwork":true,"dnsPolicy":"ClusterFirstWithHostNet"}}'
same "hostNetwork with ClusterFirstWithHostNet: searches too" 2 "$(jq length <<<"$PATCH")"

echo "# the search list's bounds (32 entries, 2048 characters, 3 kept for kubelet)"
many=$(jq -cn '[range(28)|"s\(.).corp.example"]')
mutate d u-d x "{\"spec\":{\"dnsConfig\":{\"searches\":$many}}}"
same "28 of the pod's own + kubelet's 3: room for one more only" \
	'/spec/dnsConfig/searches/- x.svc.cluster.local' "$(jq -r '.[1:]|map("\(.path) \(.value)")|join(",")' <<<"$PATCH")"
# 8 of 245 characters + kubelet's 51 (x.svc.cluster.local svc.cluster.local cluster.local): 2018
long=$(jq -cn '[range(8)|("a"*60+".")*4+"z\(.)"|.[1:]]')
mutate d2 u-d2 x "{\"spec\":{\"dnsConfig\":{\"searches\":$long}}}"
same "near 2048 characters: the nearest fits (2038), its parent would not (2062)" \
	'/spec/dnsConfig/searches/- x.svc.cluster.local' "$(jq -r '.[1:]|map("\(.path) \(.value)")|join(",")' <<<"$PATCH")"

echo "# pods and reviews it leaves alone"
mutate e u-e plain '{"metadata":{"name":"p"},"spec":{}}'
same "a namespace that is not a space: allowed, no patch" '200 true none' "$CODE $(jq -r .response.allowed <<<"$RESP") $PATCH"
mutate e2 u-e2 alice '{"metadata":{"name":"p"}}' Pod UPDATE
same "an UPDATE: allowed, no patch" '200 u-e2 true none' "$CODE $(jq -r '.response|"\(.uid) \(.allowed)"' <<<"$RESP") $PATCH"
mutate e3 u-e3 alice '{"metadata":{"name":"cm"}}' ConfigMap
same "another kind: allowed, no patch" '200 true none' "$CODE $(jq -r .response.allowed <<<"$RESP") $PATCH"
echo "not/a valid//path" >"$TMP/spaces/weird"
mutate e4 u-e4 weird '{"metadata":{},"spec":{}}'
same "a space path that is not valid: allowed, no patch, a warning" '200 none 1' \
	"$CODE $PATCH $(jq -r '.response.warnings|length' <<<"$RESP")"

echo "# hostile bodies: 400 with the reason, and the server goes on"
# bad NAME WANT-CODE WANT-TEXT: post $TMP/NAME.bad
bad() {
	local out
	out=$(post "$TMP/$1.bad")
	same "$1: $2" "$2" "$(head -n1 <<<"$out")"
	if grep -q -- "$3" <<<"$out"; then ok "$1: says '$3'"; else notok "$1: wanted '$3' in: $out"; fi
}
head -c 200 "$TMP/a.json" >"$TMP/truncated.bad"
bad truncated 400 "not JSON"
printf 'not json at all' >"$TMP/notjson.bad"
bad notjson 400 "not JSON"
jq -c '.kind="Pod"' "$TMP/a.json" >"$TMP/wrongkind.bad"
bad wrongkind 400 "want apiVersion admission.k8s.io/v1, kind AdmissionReview"
jq -c '.apiVersion="admission.k8s.io/v1beta1"' "$TMP/a.json" >"$TMP/v1beta1.bad"
bad v1beta1 400 "want apiVersion"
jq -c 'del(.request.uid)' "$TMP/a.json" >"$TMP/nouid.bad"
bad nouid 400 "request.uid missing"
jq -c '.request.uid=5' "$TMP/a.json" >"$TMP/numuid.bad"
bad numuid 400 "request.uid missing"
jq -c 'del(.request)' "$TMP/a.json" >"$TMP/noreq.bad"
bad noreq 400 "no request object"
jq -c 'del(.request.object)' "$TMP/a.json" >"$TMP/noobj.bad"
bad noobj 400 "without request.object"
jq -c '.request.object.metadata.labels="x"' "$TMP/a.json" >"$TMP/labelsstr.bad"
bad labelsstr 400 "labels is not an object"
jq -c '.request.object.spec.dnsConfig={"searches":[1]}' "$TMP/a.json" >"$TMP/searchnum.bad"
bad searchnum 400 "non-string"
jq -c '.request.namespace="../etc"' "$TMP/a.json" >"$TMP/nsdots.bad"
bad nsdots 400 "valid request.namespace"
printf '[1,2,3]' >"$TMP/array.bad"
bad array 400 "not a JSON object"
head -c 100000 /dev/zero | tr '\0' '[' >"$TMP/deep.bad"
bad deep 400 "not JSON"
jq -c '.request.uid="a"' "$TMP/a.json" | sed 's/"uid":"a"/"uid":"a","uid":"b"/' >"$TMP/dupkey.bad"
bad dupkey 400 "duplicate"
head -c $((4 << 20)) /dev/zero | tr '\0' ' ' >"$TMP/huge.bad"
bad huge 413 "over the bound"
out=$(curl -sS --cacert "$STATE/ca-bundle.pem" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" \
	-w '%{http_code}' -o /dev/null "https://127.0.0.1:$PORT/healthz" 2>&1 || true)
same "a header over 16 KiB: 431" 431 "$out"
out=$(curl -sS --cacert "$STATE/ca-bundle.pem" -w '%{http_code}' -o /dev/null "https://127.0.0.1:$PORT/mutate" || true)
same "GET /mutate: 405" 405 "$out"
out=$(curl -sS --cacert "$STATE/ca-bundle.pem" -w '%{http_code}' -o /dev/null "https://127.0.0.1:$PORT/other" || true)
same "another path: 404" 404 "$out"
out=$(curl -sS --cacert "$STATE/ca-bundle.pem" -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/a.json" \
	-w '%{http_code}' -o /dev/null "https://127.0.0.1:$PORT/mutate" || true)
same "chunked: 400 (Content-Length wanted)" 400 "$out"
# a body shorter than its Content-Length, then silence: dropped at the read timeout (1.5 s here)
t0=$(date +%s%N)
(printf 'POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"api'; sleep 6) |
	(timeout 15 openssl s_client -quiet -CAfile "$STATE/ca-bundle.pem" -connect "127.0.0.1:$PORT" >"$TMP/cut.out" 2>/dev/null
	date +%s%N >"$TMP/cut.t") || true
same "a request cut short is dropped without an answer" "" "$(cat "$TMP/cut.out")"
ms=$((($(cat "$TMP/cut.t") - t0) / 1000000))
if [ "$ms" -lt 5000 ]; then ok "dropped at the read timeout (${ms} ms), not when the client gave up"; else notok "not dropped before the client gave up (${ms} ms)"; fi
# plain HTTP and garbage instead of TLS (bash's /dev/tcp: no nc needed)
out=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1; printf "GET /healthz HTTP/1.1\r\n\r\n" >&3; cat <&3' _ "$PORT" 2>/dev/null |
	tr -d '\0' | head -c 200 || true)
same "plain HTTP on the TLS port: no HTTP answer" "" "$(grep -a HTTP <<<"$out" || true)"
timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1; head -c 65536 /dev/urandom >&3; cat <&3 >/dev/null' _ "$PORT" 2>/dev/null || true
mutate f u-f alice '{"metadata":{},"spec":{}}'
same "after all that, still serving and still right" "200 2" "$CODE $(jq length <<<"$PATCH")"
if kill -0 "${PIDS[0]}" 2>/dev/null; then ok "never crashed"; else notok "the server died"; fi

echo "# mutated reviews straight into webhook_review (bytes, and well-formed JSON with wrong types)"
seed=${WEBHOOK_FUZZ_SEED:-1}
out=$("$IT" fuzz "$seed" 30000 "$TMP/a.json" "$TMP/b.json" "$TMP/b2.json" "$TMP/b4.json" "$TMP/c2.json" "$TMP/d.json" 2>&1 || echo "exit $?")
if [[ $out =~ ^30000\ reviews:\ [0-9]+\ answered\ \([0-9]+\ patched\),\ [0-9]+\ refused$ ]]; then
	ok "seed $seed: $out"
else
	notok "seed $seed: $out"
fi

echo "# a client that trusts another CA fails"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/other.key" \
	-out "$TMP/other.crt" -days 1 -subj /CN=other 2>/dev/null
out=$(curl -sS --cacert "$TMP/other.crt" "https://127.0.0.1:$PORT/healthz" 2>&1 || true)
if grep -qi "certificate" <<<"$out"; then ok "a wrong CA: curl refuses ($(head -n1 <<<"$out"))"; else notok "a wrong CA: $out"; fi
out=$(curl -sS --cacert "$STATE/ca-bundle.pem" "https://localhost:$PORT/healthz" 2>&1 || true)
same "by its DNS name too" ok "$out"

echo "# the bounded connection table: one over it is refused at once"
stop_all
start small --state "$STATE" --max-conns 2 --read-timeout-ms 4000
exec 7<>/dev/tcp/127.0.0.1/"$PORT"
exec 8<>/dev/tcp/127.0.0.1/"$PORT"
sleep 0.2
out=$(curl -sS --max-time 5 --cacert "$STATE/ca-bundle.pem" "https://127.0.0.1:$PORT/healthz" 2>&1 || true)
if grep -qiE "reset|closed|SSL|connect" <<<"$out"; then ok "third connection refused ($out)"; else notok "third connection: $out"; fi
exec 7>&- 8>&-
out=$(for i in $(seq 50); do
	r=$(curl -sS --max-time 5 --cacert "$STATE/ca-bundle.pem" "https://127.0.0.1:$PORT/healthz" 2>/dev/null) &&
		echo "$r" && break
	sleep 0.1
done)
same "served again once they went" ok "$out"
same "the same CA across a restart (kept in the state dir)" "$(openssl x509 -in "$STATE/ca-bundle.pem" -noout -fingerprint)" \
	"$(openssl x509 -in "$STATE/ca.pem" -noout -fingerprint)"

echo "# a corrupt state file is replaced, with a warning"
stop_all
echo "garbage" >"$STATE/serving.pem"
start corrupt --state "$STATE"
same "/healthz after serving.pem was garbage" ok "$(curl -sS --cacert "$STATE/ca-bundle.pem" "https://127.0.0.1:$PORT/healthz")"
if grep -q "warning: .*serving.pem: no private key: replaced" "$TMP/corrupt.log"; then ok "warned"; else notok "no warning: $(cat "$TMP/corrupt.log")"; fi
stop_all

echo "# rotation with short lives: CA 12 s, serving 3 s, looked at every 100 ms"
R=$TMP/rot
STATE=$R
start rot --state "$R" --ca-life 12 --cert-life 3 --check-ms 100
ca0=$(openssl x509 -in "$R/ca.pem" -noout -fingerprint)
srv0=$(openssl x509 -in "$R/serving.pem" -noout -fingerprint)
cp "$R/ca-bundle.pem" "$TMP/bundle0.pem"
fails=0
tries=0
two=0
renewed=0
# Each round posts with the bundle as published at that moment (a client that
# follows caBundle); the run ends once both CAs were published and the serving
# certificate moved to the new CA (bounded: 30 s).
for i in $(seq 300); do
	tries=$((tries + 1))
	cp "$R/ca-bundle.pem" "$TMP/b.pem"
	out=$(curl -sS --max-time 5 --cacert "$TMP/b.pem" "https://127.0.0.1:$PORT/healthz" 2>&1) || true
	[ "$out" = ok ] || { fails=$((fails + 1)); echo "# round $i: $out"; }
	n=$(grep -c 'BEGIN CERTIFICATE' "$R/ca-bundle.pem" || true)
	[ "$n" = 2 ] && [ "$two" = 0 ] && two=$i && cp "$R/ca-bundle.pem" "$TMP/bundle2.pem" &&
		out=$(curl -sS --max-time 5 --cacert "$TMP/bundle0.pem" "https://127.0.0.1:$PORT/healthz" 2>&1 || true) &&
		same "just after the CA rotated, a client with the old bundle still works" ok "$out"
	[ "$(openssl x509 -in "$R/serving.pem" -noout -fingerprint 2>/dev/null)" != "$srv0" ] && renewed=1
	if [ "$two" != 0 ] && openssl verify -CAfile <(openssl x509 -in "$R/ca.pem") "$R/serving.pem" >/dev/null 2>&1 &&
		[ "$(openssl x509 -in "$R/ca.pem" -noout -fingerprint)" != "$ca0" ]; then
		break
	fi
	sleep 0.1
done
same "every one of $tries rounds served, verified with the bundle of the moment" 0 "$fails"
same "the serving certificate was renewed" 1 "$renewed"
if [ "$two" != 0 ]; then ok "the bundle held both CAs (from round $two)"; else notok "the bundle never held two CAs"; fi
same "the bundle: the new CA first, then the old" "$(openssl x509 -in "$R/ca.pem" -noout -fingerprint) $ca0" \
	"$(openssl x509 -in "$TMP/bundle2.pem" -noout -fingerprint) $(openssl crl2pkcs7 -nocrl -certfile "$TMP/bundle2.pem" |
		openssl pkcs7 -print_certs | awk '/BEGIN/{n++} n==2' | openssl x509 -noout -fingerprint)"
if openssl verify -CAfile <(openssl x509 -in "$R/ca.pem") "$R/serving.pem" >/dev/null 2>&1; then
	ok "after the overlap the serving certificate is the new CA's"
else
	notok "the serving certificate is not the new CA's"
fi
if grep -q "CA bundle changed: 2 certificates" "$TMP/rot.log"; then ok "the CA change was told (re-register)"; else notok "no CA change told"; fi
if kill -0 "${PIDS[0]}" 2>/dev/null; then ok "still running"; else notok "the server died"; fi
stop_all

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
