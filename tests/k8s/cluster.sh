#!/bin/bash
# SPDX-License-Identifier: MIT
# A real two-node Kubernetes cluster inside network namespaces of its own,
# from the binaries tests/k8s/build.sh caches.
#
#   cluster.sh up        clean up after any earlier run, start, wait Ready
#   cluster.sh down      stop everything, leave nothing behind
#   cluster.sh status    what runs, and the nodes
#   cluster.sh leftovers prints what a stopped cluster left (nothing: exit 0)
#   cluster.sh kubectl ARGS...    kubectl as cluster admin
#   cluster.sh ctr NODE ARGS...   ctr against node NODE's containerd (1|2)
#   cluster.sh exec NS CMD...     CMD inside netns NS (cp|1|2)
#   cluster.sh env       shell assignments for the state (S=, KUBECONFIG=, ...)
#
# Environment: AZDS_K8S_NAME (default "t": the state dir is
# /run/azds-k8s-$AZDS_K8S_NAME), AZDS_K8S_CACHE (as build.sh),
# AZDS_K8S_KEEP_LOGS=DIR (down copies the logs there first).
#
# Layout, all addresses the harness's alone (nothing is routed out of the
# namespaces; the control plane's namespace has no default route):
#
#   netns cp    bridge k8s0 10.201.0.1/24: etcd (127.0.0.1:2379),
#               kube-apiserver (10.201.0.1:443, and 10.203.0.1:443 the
#               "kubernetes" Service's ClusterIP), controller-manager,
#               scheduler, CoreDNS (10.201.0.1:53)
#   netns n1    eth0 10.201.0.11, containerd, kubelet "node-1",
#               bridge cni0 10.202.1.1/24 for pods 10.202.1.0/24
#   netns n2    eth0 10.201.0.12, containerd, kubelet "node-2",
#               bridge cni0 10.202.2.1/24 for pods 10.202.2.0/24
#   Services    10.203.0.0/16 (no kube-proxy: no other ClusterIP is routed)
#
# Each node also has a mount namespace of its own, shared by its containerd
# and kubelet (so every mount they make dies with them), with the nsfs pins
# of every other namespace unmounted in it, and with the six kernel sysctls
# kubelet insists on (vm.overcommit_memory, kernel.panic, ...) shadowed by
# files: kubelet would otherwise rewrite the host's.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/versions.sh"

NAME=${AZDS_K8S_NAME:-t}
case $NAME in *[!a-z0-9]* | "") echo "AZDS_K8S_NAME must be [a-z0-9]+" >&2; exit 2 ;; esac
[ ${#NAME} -le 8 ] || { echo "AZDS_K8S_NAME: 8 characters at most" >&2; exit 2; }
S=/run/azds-k8s-$NAME
CGROOT=azds-k8s-$NAME
CNINET=azds-k8s-$NAME
NODES=(1 2)
CP_IP=10.201.0.1
SVC_CIDR=10.203.0.0/16
SVC_KUBERNETES=10.203.0.1
DNS_IP=$CP_IP
node_ip() { echo "10.201.0.1$1"; }
pod_cidr() { echo "10.202.$1.0/24"; }
pod_gw() { echo "10.202.$1.1"; }
node_name() { echo "node-$1"; }
# /var/lib/kubelet too: kubelet binds its device-plugin and pod-resources
# sockets there whatever --root-dir says, and two nodes' kubelets sharing
# the host's dir race at start ("bind: address already in use", seen in CI)
HOST_DIRS="/run/containerd /var/lib/cni /var/log/containers /var/lib/kubelet"
# A node's own CNI bin and conf dirs are bound at the standard paths in its
# mount namespace, so that one DaemonSet's hostPaths (deploy/kubernetes/)
# name the right node's dirs on both nodes.
CNI_BIN=/opt/cni/bin
CNI_CONF=/etc/cni/net.d
HOSTREC=/run/azds-k8s.host-dirs
IMG_PAUSE=localhost/azds-k8s/pause:1
IMG_BUSYBOX=localhost/azds-k8s/busybox:1

log() { printf 'k8s-cluster[%s]: %s\n' "$NAME" "$*" >&2; }
die() { printf 'k8s-cluster[%s]: FAILED: %s\n' "$NAME" "$*" >&2; exit 1; }

bindir() { "$HERE/build.sh" --print-dir "$1" | sed 's|$|/bin|'; }

now_ms() { date +%s%3N; }

in_ns() { # in_ns cp|1|2 CMD...
	local ns=$1
	shift
	[ "$ns" = cp ] || ns=n$ns
	nsenter --net="$S/netns/$ns" -- "$@"
}

in_node() { # in_node 1|2 CMD...: the node's netns and mount ns
	local n=$1
	shift
	nsenter --net="$S/netns/n$n" --mount="$S/n$n/mnt.ns" -- "$@"
}

# ---------------------------------------------------------------- cleanup

# Inodes of our namespaces, for finding every process in them.
our_ns_inodes() {
	local f
	for f in "$S"/netns/* "$S"/n*/mnt.ns; do
		[ -e "$f" ] || continue
		findmnt -n -o TARGET "$f" >/dev/null 2>&1 || continue
		stat -L -c %i "$f" 2>/dev/null || true
	done
}

# Mount points of fstype $1 (mountinfo: the type follows the "-" field).
mounts_of_type() {
	awk -v t="$1" '{ i = 7; while ($i != "-") i++; if ($(i + 1) == t) print $5 }' /proc/self/mountinfo
}

cgroup_mounts() { mounts_of_type cgroup; mounts_of_type cgroup2; }

our_cgroup_dirs() {
	local m d
	for m in $(cgroup_mounts); do
		for d in "$m/$CGROOT"-n*; do
			[ -d "$d" ] && echo "$d"
		done
	done
	return 0
}

# Every pid in our namespaces or cgroups (never our own shell).
our_pids() {
	local inodes d p l
	inodes=" $(our_ns_inodes | tr '\n' ' ') "
	{
		for d in $(our_cgroup_dirs); do
			find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true
		done
		if [ "$inodes" != "  " ]; then
			for p in /proc/[0-9]*; do
				for l in net mnt; do
					l=$(readlink "$p/ns/$l" 2>/dev/null) || continue
					l=${l#*[}
					l=${l%]}
					case $inodes in *" $l "*) echo "${p#/proc/}" ;; esac
				done
			done
		fi
	} | sort -un | grep -vx "$$" || true
}

stop_recorded() {
	local f pid order=(kubelet-1 kubelet-2 containerd-1 containerd-2 coredns scheduler controller-manager apiserver etcd)
	local name
	for name in "${order[@]}"; do
		f=$S/pids/$name.pid
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		# Only if it still is the process we started (pid reuse). Killed
		# outright: all its state is in the tmpfs that goes next, and a
		# graceful stop took 20 s for nothing.
		if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$S/"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rm -f "$f"
	done
}

sweep_pids() {
	local i pids
	for i in $(seq 1 100); do
		pids=$(our_pids)
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	die "processes that will not die: $(our_pids | tr '\n' ' ')"
}

cleanup() {
	if [ -d "$S" ] && [ -n "${AZDS_K8S_KEEP_LOGS:-}" ] && [ -d "$S/logs" ]; then
		mkdir -p "$AZDS_K8S_KEEP_LOGS"
		cp -r "$S/logs/." "$AZDS_K8S_KEEP_LOGS/" 2>/dev/null || true
	fi
	[ -d "$S/pids" ] && stop_recorded
	sweep_pids
	# Mounts under the state dir, deepest first (the nsfs pins, the tmpfs).
	local m
	for m in $(awk -v s="$S" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	if awk -v s="$S" '$5 == s || index($5, s "/") == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		die "mounts left under $S"
	fi
	local d
	rm -rf "$S"
	# The mount points made on the host for the nodes' tmpfs go with the
	# last cluster: removing one under another cluster's running node
	# would detach that node's mount.
	if [ -f "$HOSTREC" ] && ! compgen -G "/run/azds-k8s-*/" >/dev/null; then
		for d in $(sort -ru "$HOSTREC"); do rmdir "$d" 2>/dev/null || true; done
		rm -f "$HOSTREC"
	fi
	for d in $(our_cgroup_dirs); do
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ ! -d "$d" ] || die "cgroup $d will not go"
	done
}

# What a stopped cluster left behind; prints it, exit 1 if anything.
leftovers() {
	local bad=0 l
	[ ! -e "$S" ] || { echo "state dir $S"; bad=1; }
	for l in $(our_cgroup_dirs); do echo "cgroup $l"; bad=1; done
	if grep -qE " $S(/| )" /proc/self/mountinfo; then echo "mounts under $S"; bad=1; fi
	for l in $(pgrep -f -- "$S/" || true); do
		[ "$l" = $$ ] && continue
		echo "process $l: $(tr '\0' ' ' <"/proc/$l/cmdline" 2>/dev/null)"
		bad=1
	done
	if [ -f "$HOSTREC" ] && ! compgen -G "/run/azds-k8s-*/" >/dev/null; then
		echo "mount points for the nodes: $(tr '\n' ' ' <"$HOSTREC")"
		bad=1
	fi
	for l in /var/lib/cni/results/"$CNINET"-*; do [ -e "$l" ] && { echo "file $l"; bad=1; }; done
	if [ -d /var/log/containers ]; then
		for l in /var/log/containers/*; do
			[ -L "$l" ] && case $(readlink "$l") in "$S"/*) echo "link $l"; bad=1 ;; esac
		done
	fi
	return $bad
}

# ------------------------------------------------------------------- PKI

cert() { # cert NAME SUBJECT EKU [SAN]
	local name=$1 subj=$2 eku=$3 san=${4:-} p=$S/pki
	local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku"
	[ -z "$san" ] || ext+="
subjectAltName=$san"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$p/$name.key" -subj "$subj" -out "$p/$name.csr" 2>/dev/null
	openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
		-days 30 -extfile <(echo "$ext") -out "$p/$name.crt" 2>/dev/null
	rm -f "$p/$name.csr"
}

kubeconfig() { # kubeconfig NAME CERTNAME
	cat >"$S/kubeconfig/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: azds-k8s
  cluster:
    server: https://$CP_IP:443
    certificate-authority: $S/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $S/pki/$2.crt
    client-key: $S/pki/$2.key
contexts:
- name: $1
  context: {cluster: azds-k8s, user: $1}
current-context: $1
EOF
}

make_pki() {
	local p=$S/pki n
	mkdir -p "$p" "$S/kubeconfig"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$p/ca.key" -out "$p/ca.crt" -days 30 -subj "/CN=azds-k8s-$NAME-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" serverAuth \
		"IP:$CP_IP,IP:127.0.0.1,IP:$SVC_KUBERNETES,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
	cert admin "/O=system:masters/CN=azds-k8s-admin" clientAuth
	cert controller-manager "/CN=system:kube-controller-manager" clientAuth
	cert scheduler "/CN=system:kube-scheduler" clientAuth
	# CoreDNS runs as a process beside the API server; the group spares
	# the harness an RBAC role for it.
	cert coredns "/O=system:masters/CN=azds-k8s-coredns" clientAuth
	for n in "${NODES[@]}"; do
		cert "kubelet-$n" "/O=system:nodes/CN=system:node:$(node_name "$n")" clientAuth
		cert "kubelet-$n-serving" "/CN=$(node_name "$n")" serverAuth "IP:$(node_ip "$n"),DNS:$(node_name "$n")"
		kubeconfig "kubelet-$n" "kubelet-$n"
	done
	openssl ecparam -name prime256v1 -genkey -noout -out "$p/sa.key" 2>/dev/null
	openssl ec -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
	kubeconfig admin admin
	kubeconfig controller-manager controller-manager
	kubeconfig scheduler scheduler
	kubeconfig coredns coredns
	chmod 600 "$p"/*.key
}

# --------------------------------------------------------------- network

make_net() {
	local n j
	mkdir -p "$S/netns"
	for n in cp n1 n2; do
		touch "$S/netns/$n"
		unshare --net="$S/netns/$n" true
	done
	in_ns cp ip link set lo up
	in_ns cp ip link add k8s0 type bridge
	in_ns cp ip addr add "$CP_IP/24" dev k8s0
	# No kube-proxy, yet in-cluster clients (service-account kubeconfigs,
	# a DaemonSet's pods) dial the "kubernetes" Service's ClusterIP: the
	# API server owns that address too, and listens on the Service's port
	# (443), so the nodes' default route takes them there without NAT.
	in_ns cp ip addr add "$SVC_KUBERNETES/32" dev lo
	in_ns cp ip link set k8s0 up
	in_ns cp sysctl -qw net.ipv4.ip_forward=1
	for n in "${NODES[@]}"; do
		in_ns cp ip link add "n$n" type veth peer name eth0 netns "$S/netns/n$n"
		in_ns cp ip link set "n$n" master k8s0 up
		in_ns cp ip route add "$(pod_cidr "$n")" via "$(node_ip "$n")"
		in_ns "$n" ip link set lo up
		in_ns "$n" ip addr add "$(node_ip "$n")/24" dev eth0
		in_ns "$n" ip link set eth0 up
		in_ns "$n" sysctl -qw net.ipv4.ip_forward=1
		for j in "${NODES[@]}"; do
			[ "$j" = "$n" ] || in_ns "$n" ip route add "$(pod_cidr "$j")" via "$(node_ip "$j")"
		done
		# Whatever else a pod sends ends in the control plane's namespace,
		# which routes nothing further.
		in_ns "$n" ip route add default via "$CP_IP"
	done
}

# ------------------------------------------------------------- processes

start() { # start NAME NS|node:N CMD...
	local name=$1 where=$2 pid
	shift 2
	case $where in
	node:*) setsid nsenter --net="$S/netns/n${where#node:}" --mount="$S/n${where#node:}/mnt.ns" -- "$@" \
		</dev/null >>"$S/logs/$name.log" 2>&1 & ;;
	*) setsid nsenter --net="$S/netns/$where" -- "$@" </dev/null >>"$S/logs/$name.log" 2>&1 & ;;
	esac
	pid=$!
	# Not this shell's job any more (no "Killed" notice when down kills it).
	disown "$pid" 2>/dev/null || true
	echo "$pid" >"$S/pids/$name.pid"
}

alive_or_die() { # alive_or_die NAME...
	local pid name
	for name in "$@"; do
		pid=$(cat "$S/pids/$name.pid")
		kill -0 "$pid" 2>/dev/null && continue
		tail -n 20 "$S/logs/$name.log" >&2 || true
		die "$name exited (its log is above)"
	done
}

wait_for() { # wait_for WHAT SECONDS "NAME..." CMD...: polls CMD every 0.1 s
	local what=$1 secs=$2 names=$3 deadline
	shift 3
	deadline=$(($(now_ms) + secs * 1000))
	until "$@" >/dev/null 2>&1; do
		# shellcheck disable=SC2086
		[ -z "$names" ] || alive_or_die $names
		[ "$(now_ms)" -lt $deadline ] || die "$what not there after $secs s"
		sleep 0.1
	done
}

kubectl_admin() { in_ns cp "$KBIN/kubectl" --kubeconfig "$S/kubeconfig/admin.kubeconfig" "$@"; }

start_control_plane() {
	mkdir -p "$S/etcd"
	start etcd cp etcd --name default --data-dir "$S/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster default=http://127.0.0.1:2380 --log-level warn
	local p=$S/pki
	start apiserver cp "$KBIN/kube-apiserver" \
		--etcd-servers=http://127.0.0.1:2379 \
		--bind-address=0.0.0.0 --advertise-address="$CP_IP" --secure-port=443 \
		--service-cluster-ip-range="$SVC_CIDR" \
		--tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
		--client-ca-file="$p/ca.crt" \
		--kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$p/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types=InternalIP \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--allow-privileged=true --enable-aggregator-routing=true \
		--profiling=false --v=1
	# The API server needs etcd; both start at once and it retries.
	wait_for "the API server" 60 "etcd apiserver" kubectl_admin get --raw /readyz
	start controller-manager cp "$KBIN/kube-controller-manager" \
		--kubeconfig="$S/kubeconfig/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$S/kubeconfig/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$S/kubeconfig/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false \
		--cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
		--root-ca-file="$p/ca.crt" --service-account-private-key-file="$p/sa.key" \
		--use-service-account-credentials=true --allocate-node-cidrs=false \
		--service-cluster-ip-range="$SVC_CIDR" --profiling=false --v=1
	start scheduler cp "$KBIN/kube-scheduler" \
		--kubeconfig="$S/kubeconfig/scheduler.kubeconfig" \
		--authentication-kubeconfig="$S/kubeconfig/scheduler.kubeconfig" \
		--authorization-kubeconfig="$S/kubeconfig/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
	cat >"$S/Corefile" <<EOF
.:53 {
    bind $DNS_IP
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $S/kubeconfig/coredns.kubeconfig coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
EOF
	start coredns cp "$(bindir coredns)/coredns" -conf "$S/Corefile"
}

# A directory missing on the host is made as a mount point for the nodes,
# each component that was missing recorded (removed, deepest first, with
# the last cluster).
host_dir() {
	local p=$1 missing=()
	while [ ! -d "$p" ]; do
		missing+=("$p")
		p=$(dirname "$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	mkdir -p "$1"
	printf '%s\n' "${missing[@]}" >>"$HOSTREC"
}

setup_node() { # setup_node N: dirs, configs, cgroups, mount ns
	local n=$1 d=$S/n$1 m
	mkdir -p "$d/containerd/root" "$d/containerd/state" "$d/cni/net.d" "$d/cni/ipam" "$d/cni/bin" \
		"$d/kubelet/root" "$d/kubelet/plugins" "$d/pod-logs" "$d/sysctl"
	local cbin rbin cni p
	cbin=$(bindir containerd)
	rbin=$(bindir runc)
	# each node's own CNI bin dir (a copy of the cached plugins): a node
	# agent installs its plugin there as into /opt/cni/bin of a real node
	for p in "$(bindir cni-plugins)"/*; do cp "$p" "$d/cni/bin/"; done
	# containerd names the standard paths, bound to the node's own dirs
	cni=$CNI_BIN
	cat >"$d/cni/net.d/10-azds-k8s.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNINET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "$(pod_cidr "$n")", "gateway": "$(pod_gw "$n")"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
	cat >"$d/containerd/config.toml" <<EOF
version = 3
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$d/containerd/containerd.sock"

[ttrpc]
  address = "$d/containerd/containerd.sock.ttrpc"

[debug]
  address = ""

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$IMG_PAUSE"

[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: never ask for a lower score.
  restrict_oom_score_adj = true
  # Pod netns pins live in the state dir, not in /run/netns.
  netns_mounts_under_state_dir = true
  disable_apparmor = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$cni"]
  conf_dir = "$CNI_CONF"
  max_conf_num = 1

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "$rbin/runc"
  SystemdCgroup = false
EOF
	cat >"$d/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$n")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $S/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $S/pki/kubelet-$n-serving.crt
tlsPrivateKeyFile: $S/pki/kubelet-$n-serving.key
containerRuntimeEndpoint: unix://$d/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CGROOT-n$n
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: $S/resolv.conf
podLogsDir: $d/pod-logs
volumePluginDir: $d/kubelet/plugins
staticPodPath: ""
rotateCertificates: false
serverTLSBootstrap: false
registerNode: true
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 1Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
maxPods: 50
EOF
	# kubelet's cgroupRoot must exist in every hierarchy; cpuset children
	# start empty on cgroup v1.
	for m in $(cgroup_mounts); do
		mkdir -p "$m/$CGROOT-n$n"
		if [ -f "$m/cpuset.cpus" ]; then
			cat "$m/cpuset.cpus" >"$m/$CGROOT-n$n/cpuset.cpus"
			cat "$m/cpuset.mems" >"$m/$CGROOT-n$n/cpuset.mems"
		fi
	done
	# The values kubelet wants for the sysctls it otherwise writes.
	local kv k
	for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
		kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
		k=${kv%%=*}
		echo "${kv#*=}" >"$d/sysctl/${k//\//_}"
	done
	# The paths containerd, its shims and kubelet write whatever they are
	# told (shim sockets and runc state under /run/containerd, libcni's
	# cache, kubelet's /var/log/containers links) get a tmpfs in the
	# node's mount namespace: the host's stay untouched. A path missing
	# on the host is made for the mount point, and removed when the last
	# cluster goes.
	for m in $HOST_DIRS $CNI_BIN $CNI_CONF; do host_dir "$m"; done
	touch "$d/mnt.ns"
	# shellcheck disable=SC2016
	unshare --mount="$d/mnt.ns" --propagation private -- /bin/sh -ec '
		d=$1
		# Drop the copies of every namespace pin (other tests'"'"' too):
		# they would keep those namespaces alive as long as this one.
		awk '"'"'{ i = 7; while ($i != "-") i++; if ($(i + 1) == "nsfs") print $5 }'"'"' /proc/self/mountinfo | sort -r |
			while read -r m; do umount -l "$m"; done
		for kv in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
			kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
			mount --bind "$d/sysctl/$(echo $kv | tr / _)" "/proc/sys/$kv"
		done
		mount --bind "$d/cni/bin" "$2"
		mount --bind "$d/cni/net.d" "$3"
		shift 3
		for m in "$@"; do mount -t tmpfs -o mode=0755,size=256m azds-k8s "$m"; done
		' sh "$d" "$CNI_BIN" "$CNI_CONF" $HOST_DIRS # (words: one path each)
}

start_node() {
	local n=$1 d=$S/n$1 cbin
	cbin=$(bindir containerd)
	start "containerd-$n" "node:$n" env PATH="$cbin:/usr/sbin:/usr/bin:/sbin:/bin" \
		"$cbin/containerd" --config "$d/containerd/config.toml" --log-level warn
}

import_images() {
	local n=$1 cbin out
	cbin=$(bindir containerd)
	wait_for "containerd on node $n" 30 "containerd-$n" \
		"$cbin/ctr" --address "$S/n$n/containerd/containerd.sock" version
	local i
	for i in "$S"/images/*.tar; do
		# (ctr warns on stderr that cgroup v1 is deprecated.)
		out=$("$cbin/ctr" --address "$S/n$n/containerd/containerd.sock" -n k8s.io images import \
			"$i" 2>&1) || die "ctr import $i on node $n: $out"
	done
}

start_kubelet() {
	local n=$1 d=$S/n$1
	start "kubelet-$n" "node:$n" "$KBIN/kubelet" \
		--config="$d/kubelet/config.yaml" \
		--kubeconfig="$S/kubeconfig/kubelet-$n.kubeconfig" \
		--root-dir="$d/kubelet/root" --cert-dir="$d/kubelet/pki" \
		--hostname-override="$(node_name "$n")" --node-ip="$(node_ip "$n")" \
		--node-labels="azds.test/node=$n" --v=1
}

build_images() {
	mkdir -p "$S/images"
	"$HERE/image.sh" -b -o "$S/images/pause.tar" -n "$IMG_PAUSE" -e '["/bin/sleep","infinity"]'
	"$HERE/image.sh" -b -o "$S/images/busybox.tar" -n "$IMG_BUSYBOX" -c '["/bin/sh"]'
}

nodes_ready() {
	local out
	out=$(kubectl_admin get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}') || return 1
	local n
	for n in "${NODES[@]}"; do
		grep -qx "$(node_name "$n")=True" <<<"$out" || return 1
	done
}

check_binaries() {
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl containerd runc cni-plugins coredns; do
		[ -f "$("$HERE/build.sh" --print-dir "$c")/.complete" ] ||
			die "$c is not built: run tests/k8s/build.sh first"
	done
	command -v etcd >/dev/null || die "etcd is not installed: run tests/k8s/build.sh (installs etcd-server)"
	[ -x /bin/busybox ] || die "busybox-static is not installed: run tests/k8s/build.sh (installs it)"
}

up() {
	[ "$(id -u)" -eq 0 ] || die "must run as root"
	check_binaries
	local t0 t1 n
	t0=$(now_ms)
	cleanup
	mkdir -p "$S"
	# Everything in RAM, gone with one umount.
	mount -t tmpfs -o size=4g,mode=0755 "azds-k8s-$NAME" "$S"
	mkdir -p "$S/logs" "$S/pids"
	kbin_setup
	echo "search cluster.local" >"$S/resolv.conf"
	make_net
	make_pki
	build_images
	start_control_plane
	log "API server ready at $(($(now_ms) - t0)) ms"
	for n in "${NODES[@]}"; do
		setup_node "$n"
		start_node "$n"
	done
	for n in "${NODES[@]}"; do import_images "$n"; done
	for n in "${NODES[@]}"; do start_kubelet "$n"; done
	log "kubelets started at $(($(now_ms) - t0)) ms"
	wait_for "both nodes Ready" 90 "containerd-1 containerd-2 kubelet-1 kubelet-2" nodes_ready
	# The controller-manager works once it made default's ServiceAccount
	# (pods are refused until their namespace has one).
	wait_for "the default ServiceAccount" 60 controller-manager \
		kubectl_admin -n default get serviceaccount default
	for n in "${NODES[@]}"; do alive_or_die "kubelet-$n"; done
	t1=$(now_ms)
	echo "$((t1 - t0))" >"$S/ready-ms"
	log "both nodes Ready $((t1 - t0)) ms after up started"
}

status() {
	[ -d "$S/pids" ] || { echo "not running"; return 1; }
	local f pid st=0
	for f in "$S"/pids/*.pid; do
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then
			echo "$(basename "$f" .pid): running (pid $pid)"
		else
			echo "$(basename "$f" .pid): DEAD"
			st=1
		fi
	done
	kubectl_admin get nodes -o wide || st=1
	return $st
}

KBIN=$S/bin
# The five Kubernetes binaries sit in one dir per binary; collect them.
kbin_setup() {
	local b
	mkdir -p "$S/bin"
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		ln -sf "$(bindir "$b")/$b" "$S/bin/$b"
	done
	KBIN=$S/bin
}

up_failed() {
	local keep=${AZDS_K8S_KEEP_LOGS:-/tmp/azds-k8s-$NAME-failed-logs}
	trap - EXIT
	log "up failed: stopping everything; logs kept in $keep"
	AZDS_K8S_KEEP_LOGS=$keep cleanup || true
	exit 1
}

case ${1:-} in
up)
	# A failed up leaves nothing running.
	trap up_failed EXIT
	up
	trap - EXIT
	;;
down)
	cleanup
	leftovers >/dev/null || { leftovers; die "down left the above behind"; }
	log "down: nothing left"
	;;
status) KBIN=$S/bin status ;;
leftovers) leftovers ;;
kubectl)
	shift
	KBIN=$S/bin
	kubectl_admin "$@"
	;;
ctr)
	n=$2
	shift 2
	"$(bindir containerd)/ctr" --address "$S/n$n/containerd/containerd.sock" -n k8s.io "$@"
	;;
exec)
	ns=$2
	shift 2
	case $ns in
	cp) in_ns cp "$@" ;;
	*) in_node "$ns" "$@" ;;
	esac
	;;
env)
	echo "S=$S"
	echo "KUBECONFIG=$S/kubeconfig/admin.kubeconfig"
	echo "KBIN=$S/bin"
	echo "NETNS_CP=$S/netns/cp"
	for n in "${NODES[@]}"; do echo "NETNS_N$n=$S/netns/n$n"; done
	;;
*)
	sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
