#!/bin/bash
# SPDX-License-Identifier: MIT
# The harness cluster works end to end: both nodes Ready, a pod pinned on
# each node, the pod on node-1 fetches a page over TCP from the pod on
# node-2 (and the page is that pod's), CoreDNS answers a Service's ClusterIP
# and a headless Service's pod IP, in-cluster clients reach the API server
# at its ClusterIP, an image of our own runs, "up" cleans up after a crashed
# run, and "down" leaves nothing behind.
#
# Needs root and the cached binaries (it runs tests/k8s/build.sh, which is
# quick once built). Environment: AZDS_K8S_NAME (default "smoke").
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export AZDS_K8S_NAME=${AZDS_K8S_NAME:-smoke}
C=$HERE/cluster.sh
NS=azds-smoke

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
nok() { fail=$((fail + 1)); echo "not ok - $*"; }
check() { # check DESC CMD...
	local d=$1
	shift
	if "$@"; then ok "$d"; else nok "$d"; fi
}
k() { "$C" kubectl "$@"; }

finish() {
	trap - EXIT
	"$C" down >/dev/null 2>&1
	if "$C" leftovers; then ok "down leaves nothing behind"; else nok "down leaves nothing behind"; fi
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

"$HERE/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
trap finish EXIT

t0=$(date +%s%3N)
if ! "$C" up; then
	nok "cluster up"
	exit 1
fi
ok "cluster up, both nodes Ready in $(($(date +%s%3N) - t0)) ms"

token=azds-smoke-$$-$RANDOM
k create namespace $NS >/dev/null || nok "create namespace $NS"
# Pods are refused until the controller-manager made the namespace's
# default ServiceAccount.
for _ in $(seq 1 300); do
	k -n $NS get serviceaccount default >/dev/null 2>&1 && break
	sleep 0.1
done
k apply -f - >/dev/null <<EOF || nok "apply the smoke objects"
apiVersion: v1
kind: Pod
metadata: {name: srv, namespace: $NS, labels: {app: srv}}
spec:
  nodeName: node-2
  terminationGracePeriodSeconds: 0
  containers:
  - name: httpd
    image: localhost/azds-k8s/busybox:1
    imagePullPolicy: Never
    command: [/bin/sh, -c, 'mkdir -p /www && echo "$token \$(hostname)" >/www/index.html && exec httpd -f -vv -p 8080 -h /www']
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: $NS}
spec:
  nodeName: node-1
  terminationGracePeriodSeconds: 0
  containers:
  - name: sh
    image: localhost/azds-k8s/busybox:1
    imagePullPolicy: Never
    command: [/bin/sleep, infinity]
---
apiVersion: v1
kind: Service
metadata: {name: srv, namespace: $NS}
spec:
  selector: {app: srv}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: srv-headless, namespace: $NS}
spec:
  clusterIP: None
  selector: {app: srv}
  ports: [{port: 8080}]
EOF

t1=$(date +%s%3N)
if k -n $NS wait --for=condition=Ready pod/srv pod/cli --timeout=120s >/dev/null; then
	ok "pods Running on both nodes in $(($(date +%s%3N) - t1)) ms"
else
	nok "pods Running"
	k -n $NS describe pods | tail -40
	exit 1
fi

srv_ip=$(k -n $NS get pod srv -o jsonpath='{.status.podIP}')
cli_ip=$(k -n $NS get pod cli -o jsonpath='{.status.podIP}')
check "srv runs on node-2 with a node-2 pod IP ($srv_ip)" \
	test "$(k -n $NS get pod srv -o jsonpath='{.spec.nodeName}')" = node-2 -a "${srv_ip%.*}" = 10.202.2
check "cli runs on node-1 with a node-1 pod IP ($cli_ip)" \
	test "$(k -n $NS get pod cli -o jsonpath='{.spec.nodeName}')" = node-1 -a "${cli_ip%.*}" = 10.202.1

# (busybox-static's wget crashes without glibc's NSS modules in the
# image; nc speaks the HTTP.)
page=$(k -n $NS exec cli -- sh -c "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 5 $srv_ip 8080" 2>&1 | tail -n 1)
check "node-1 pod fetches node-2 pod's page over TCP (got: $page)" test "$page" = "$token srv"

# The connection came straight from the node-1 pod (no NAT on the way):
# httpd -vv logs its peer. Also proves "kubectl logs" through kubelet.
peer_ok() {
	# httpd's stderr reaches the pod's log through containerd a moment
	# after the response: look again for up to 30 s.
	for _ in $(seq 1 300); do
		k -n $NS logs srv 2>&1 | grep -qE "^\[(::ffff:)?${cli_ip//./\\.}\]:[0-9]+: url:/index.html$" && return 0
		sleep 0.1
	done
	return 1
}
check "the node-2 pod saw the node-1 pod's own address $cli_ip" peer_ok

svc_ip=$(k -n $NS get svc srv -o jsonpath='{.spec.clusterIP}')
dns() { k -n $NS exec cli -- nslookup "$1" "$2" 2>&1 | awk '/^Name:/ { n = 1 } n && /^Address/ { sub(/^Address( 1)?: */, ""); print; exit }'; }
# CoreDNS learns of the Service and its EndpointSlice by watch, a moment
# after they change: ask again for up to 30 s.
dns_until() { # dns_until NAME WANT
	local _i
	for _i in $(seq 1 60); do
		got=$(dns "$1" 10.201.0.1)
		[ "$got" = "$2" ] && return 0
		sleep 0.5
	done
	return 1
}
dns_until "srv.$NS.svc.cluster.local" "$svc_ip"
check "CoreDNS resolves srv.$NS.svc.cluster.local to its ClusterIP $svc_ip (got: $got)" test "$got" = "$svc_ip"
dns_until "srv-headless.$NS.svc.cluster.local" "$srv_ip"
check "CoreDNS resolves the headless Service to the pod IP $srv_ip (got: $got)" test "$got" = "$srv_ip"
resolv_ok() {
	local rc
	rc=$(k -n $NS exec cli -- cat /etc/resolv.conf 2>&1)
	grep -q "^nameserver 10.201.0.1$" <<<"$rc" &&
		grep -q "^search $NS.svc.cluster.local svc.cluster.local cluster.local" <<<"$rc"
}
check "the pod's resolv.conf names the cluster DNS and the namespace's search list" resolv_ok

# In-cluster clients reach the API server at the "kubernetes" Service's
# ClusterIP (no kube-proxy: the API server owns that address): a pod
# connects over TCP, and node-1's namespace gets the version over HTTPS
# with the pod's own service-account token.
# (Go's TLS server answers plain HTTP with a 400 that says so.)
apiserver_tcp_ok() {
	k -n $NS exec cli -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 10.203.0.1 443" 2>&1 |
		grep -q "Client sent an HTTP request to an HTTPS server"
}
check "a pod reaches the API server at the kubernetes Service's ClusterIP 10.203.0.1:443" apiserver_tcp_ok
incluster_ok() {
	local tok
	tok=$(k -n $NS exec cli -- cat /var/run/secrets/kubernetes.io/serviceaccount/token) || return 1
	k -n $NS exec cli -- cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt >"$tmpd/ca.crt" || return 1
	"$C" exec 1 curl -sS --max-time 5 --cacert "$tmpd/ca.crt" -H "Authorization: Bearer $tok" \
		https://10.203.0.1/version | grep -q '"gitVersion": "v1.34.2"'
}
tmpd=$(mktemp -d /tmp/azds-k8s-smoke.XXXXXX)
check "the API server answers at the ClusterIP to the pod's service-account token" incluster_ok
rm -rf "$tmpd"

# An image of a dynamically linked binary of our own (here coreutils'
# printf stands in for the project's), built with image.sh -A and
# imported with ctr on node-1 only: what the later tests do with azds.
img=$(mktemp -d /tmp/azds-k8s-smoke-img.XXXXXX)
"$HERE/image.sh" -o "$img/own.tar" -n localhost/azds-k8s/own:1 -A /usr/bin/printf:/usr/bin/printf \
	-e '["/usr/bin/printf"]' &&
	"$C" ctr 1 images import "$img/own.tar" >/dev/null 2>&1 || nok "build and import an image of our own"
rm -rf "$img"
k -n $NS apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: own, namespace: $NS}
spec:
  nodeName: node-1
  restartPolicy: Never
  containers:
  - name: own
    image: localhost/azds-k8s/own:1
    imagePullPolicy: Never
    args: ['%s', '$token-own']
EOF
own_ok() {
	k -n $NS wait --for=jsonpath='{.status.phase}'=Succeeded pod/own --timeout=60s >/dev/null &&
		[ "$(k -n $NS logs own)" = "$token-own" ]
}
check "a pod runs an image of a dynamically linked binary, imported with ctr" own_ok

# A crashed run: the runner killed, its kubelets and containerds with it,
# the pid records lost, the shims and containers left running. "up" must
# clean all of it and start afresh.
eval "$("$C" env)"
old_pids=$(cat /sys/fs/cgroup/pids/azds-k8s-"$AZDS_K8S_NAME"-n*/kubepods/*/pod*/*/cgroup.procs 2>/dev/null | sort -u)
for f in "$S"/pids/kubelet-*.pid "$S"/pids/containerd-*.pid; do kill -9 "$(cat "$f")"; done
rm -rf "$S/pids"
check "before the crash, the pods' processes were found in the nodes' cgroups ($(echo $old_pids))" \
	test -n "$old_pids"
t2=$(date +%s%3N)
if "$C" up; then
	ok "up after a crash, both nodes Ready in $(($(date +%s%3N) - t2)) ms"
else
	nok "up after a crash"
fi
alive=
for p in $old_pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
check "no process of the crashed run is left${alive:+:$alive}" test -z "$alive"
no_pods() {
	local out
	out=$(k get pods -A -o name) && [ -z "$out" ]
}
check "the new cluster starts empty" no_pods

exit 0
