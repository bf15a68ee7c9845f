#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every Debian package that building, testing and the demo need.
# Idempotent: safe to run again; packages already present are left alone.
set -eu

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi

PKGS="build-essential cmake pkg-config clang llvm lld bpftool libbpf-dev libelf-dev
zlib1g-dev libjansson-dev libyaml-dev libssl-dev libcurl4-openssl-dev
libclang-rt-14-dev iproute2 dnsmasq-base curl procps kmod
haproxy nginx-light wrk iperf3 gnuplot-nox iptables nftables jq
qemu-system-x86 busybox-static cpio xz-utils zstd dash python3 bsdextrautils
libsqlite3-dev sqlite3 libseccomp-dev bubblewrap passwd acl python3-yaml python3-pip
etcd-server openssl util-linux"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

# azds up runs node:* services on the host's node and npm: Debian's, unless
# the machine has them already (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package)
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi

# Debian's haproxy, nginx and etcd-server packages start system services on
# install when an init system runs; azds (and the Kubernetes harness, whose
# etcd runs in a network namespace of its own) starts its own by pid, so
# stop those.
for svc in haproxy nginx etcd; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
		systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
done

# bpffs is where azds pins its maps.
if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf
fi
echo "install-deps: ok"
