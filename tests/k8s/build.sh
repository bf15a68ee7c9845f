#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the pinned Kubernetes test cluster's binaries, each from its Go
# module with the machine's Go, and caches them by version:
#
#   ${AZDS_K8S_CACHE:-/var/cache/azds/k8s}/<component>-<version>/bin/...
#
# A component's directory appears only complete: it is built in a temp dir
# beside it and renamed into place, so a run killed half-way leaves a
# "*.tmp.*" dir that the next run removes and rebuilds. A complete cached
# build is one stat per component.
#
# Usage: tests/k8s/build.sh [component...]   (default: all)
#        tests/k8s/build.sh --print-dir COMPONENT   (prints its cache dir)
#        tests/k8s/build.sh --prune   (removes cached builds no pin uses)
# Environment: AZDS_K8S_CACHE, AZDS_K8S_JOBS (go build -p, default 1:
# the machine has two cores shared with everything else).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.sh
. "$HERE/versions.sh"

CACHE=${AZDS_K8S_CACHE:-/var/cache/azds/k8s}
JOBS=${AZDS_K8S_JOBS:-1}

# CoreDNS's own main links every plugin it ships, cloud providers' SDKs
# included (most of its build time). The harness's main links those a
# cluster's DNS uses; the directive order is CoreDNS's own
# (core/dnsserver), which lists plugins whether they are linked or not.
COREDNS_PLUGINS="bind cache errors forward health hosts k8s_external kubernetes loadbalance
	log loop metadata metrics ready reload rewrite template whoami"

# Never fetch another toolchain: the machine's Go builds all of it.
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -mod=mod -p=$JOBS"

log() { printf 'k8s-build: %s\n' "$*" >&2; }
die() { printf 'k8s-build: FAILED: %s\n' "$*" >&2; exit 1; }

# Low priority on CPU and disk: builds share a 2-core machine.
nicely() { nice -n 19 ionice -c3 "$@"; }

need_debs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages ${missing[*]} (run as root to install them)"
	log "installing Debian packages: ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
		apt-get update -q >/dev/null || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]}"
	fi
}

component_version() {
	case $1 in
	kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl | kube-proxy) echo "$K8S_VERSION" ;;
	containerd) echo "$CONTAINERD_VERSION" ;;
	runc) echo "$RUNC_VERSION" ;;
	cni-plugins) echo "$CNI_PLUGINS_VERSION" ;;
	# The plugin list is part of what is built.
	coredns) echo "$COREDNS_VERSION-$(echo $COREDNS_PLUGINS | sha256sum | cut -c1-8)" ;;
	*) return 1 ;;
	esac
}

component_dir() { echo "$CACHE/$1-$(component_version "$1")"; }

# A scratch Go module that depends on $1@$2; go.mod is written with
# "tool" lines for the packages to build (Go 1.24+), so "go mod tidy"
# resolves exactly what those mains need. $4... are extra go.mod lines.
make_consumer() {
	local dir=$1 mod=$2 ver=$3
	shift 3
	mkdir -p "$dir"
	{
		echo "module azds.test/k8sbuild"
		echo
		echo "go 1.24.0"
		echo
		echo "require $mod $ver"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$dir/go.mod"
}

# Replace directives a module carries (go ignores a dependency's), with
# local paths ("./staging/src/k8s.io/api") turned into the published
# module at $2 (Kubernetes pins its staging modules at v0.0.0).
replaces_of() {
	local gomod=$1 staging_ver=$2
	awk -v sv="$staging_ver" '
		/^replace *\(/ { inblk = 1; next }
		inblk && /^\)/ { inblk = 0; next }
		inblk || /^replace / {
			line = $0; sub(/^replace */, "", line); sub(/^[ \t]+/, "", line)
			sub(/[ \t]*\/\/.*$/, "", line)
			n = split(line, f, /[ \t]+/)
			# f: old [oldver] => new [newver]
			for (i = 1; i <= n; i++) if (f[i] == "=>") arrow = i
			old = f[1]; new = f[arrow + 1]; newver = f[arrow + 2]
			if (new ~ /^\.\.?\//) print "replace " old " => " old " " sv
			else if (newver != "") print "replace " old " => " new " " newver
		}' "$gomod"
}

# GoMod file of $1@$2 in the module cache (downloads it: one small file).
gomod_of() {
	local out
	if ! out=$(cd "$1" && go mod download -json "$2@$3"); then
		printf '%s\n' "$out" | sed -n 's/^\t"Error": "\(.*\)",*$/go mod download: \1/p' >&2
		return 1
	fi
	printf '%s\n' "$out" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p'
}

# go build, verbose only on failure. $1 = work dir, rest = go build args.
gobuild() {
	local dir=$1 logf
	shift
	logf=$dir/build.log
	if ! (cd "$dir" && nicely go build "$@") >"$logf" 2>&1; then
		tail -n 30 "$logf" >&2
		return 1
	fi
}

tidy() {
	local dir=$1
	if ! (cd "$dir" && nicely go mod tidy) >"$dir/tidy.log" 2>&1; then
		tail -n 30 "$dir/tidy.log" >&2
		return 1
	fi
}

build_kube() { # $1 = binary, $2 = output dir
	local bin=$1 out=$2 w=$2/.src gm
	make_consumer "$w" k8s.io/kubernetes "$K8S_VERSION"
	gm=$(gomod_of "$w" k8s.io/kubernetes "$K8S_VERSION") || return 1
	[ -n "$gm" ] && [ -f "$gm" ] || return 1
	replaces_of "$gm" "v0.${K8S_VERSION#v1.}" >>"$w/go.mod"
	echo "tool k8s.io/kubernetes/cmd/$bin" >>"$w/go.mod"
	tidy "$w" || return 1
	local minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	local ld="-s -w"
	local p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	mkdir -p "$out/bin"
	CGO_ENABLED=0 gobuild "$w" -trimpath -ldflags "$ld" -o "$out/bin/$bin" "k8s.io/kubernetes/cmd/$bin"
}

build_containerd() {
	local out=$1 w=$1/.src gm
	local mod=github.com/containerd/containerd/v2
	make_consumer "$w" $mod "$CONTAINERD_VERSION"
	gm=$(gomod_of "$w" $mod "$CONTAINERD_VERSION") || return 1
	replaces_of "$gm" "" >>"$w/go.mod"
	local c
	for c in containerd containerd-shim-runc-v2 ctr; do echo "tool $mod/cmd/$c" >>"$w/go.mod"; done
	tidy "$w" || return 1
	local ld="-s -w -X $mod/version.Version=$CONTAINERD_VERSION -X $mod/version.Revision=azds-k8s"
	mkdir -p "$out/bin"
	# No btrfs/devmapper snapshotters: overlayfs and native are enough,
	# and btrfs needs kernel headers through cgo.
	CGO_ENABLED=0 gobuild "$w" -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ld" \
		-o "$out/bin/" $mod/cmd/containerd $mod/cmd/containerd-shim-runc-v2 $mod/cmd/ctr
}

build_runc() {
	local out=$1 w=$1/.src gm
	local mod=github.com/opencontainers/runc
	need_debs libseccomp-dev pkg-config gcc libc6-dev
	make_consumer "$w" $mod "$RUNC_VERSION"
	gm=$(gomod_of "$w" $mod "$RUNC_VERSION") || return 1
	replaces_of "$gm" "" >>"$w/go.mod"
	echo "tool $mod" >>"$w/go.mod"
	tidy "$w" || return 1
	mkdir -p "$out/bin"
	# seccomp: the kubelet's RuntimeDefault profile needs it. libseccomp
	# is linked dynamically (libseccomp2 comes with libseccomp-dev).
	CGO_ENABLED=1 gobuild "$w" -trimpath -tags "seccomp urfave_cli_no_docs" \
		-ldflags "-s -w -X main.version=${RUNC_VERSION#v} -X main.gitCommit=azds-k8s" \
		-o "$out/bin/runc" $mod || return 1
	"$out/bin/runc" --version | grep -q "libseccomp: " || {
		echo "runc was built without seccomp" >&2
		return 1
	}
}

build_cni() {
	local out=$1 w=$1/.src gm
	local mod=github.com/containernetworking/plugins
	make_consumer "$w" $mod "$CNI_PLUGINS_VERSION"
	gm=$(gomod_of "$w" $mod "$CNI_PLUGINS_VERSION") || return 1
	replaces_of "$gm" "" >>"$w/go.mod"
	local p
	for p in main/bridge ipam/host-local main/loopback; do echo "tool $mod/plugins/$p" >>"$w/go.mod"; done
	tidy "$w" || return 1
	mkdir -p "$out/bin"
	CGO_ENABLED=0 gobuild "$w" -trimpath \
		-ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
		-o "$out/bin/" $mod/plugins/main/bridge $mod/plugins/ipam/host-local $mod/plugins/main/loopback
}

build_coredns() {
	local out=$1 w=$1/.src gm p
	local mod=github.com/coredns/coredns
	make_consumer "$w" $mod "$COREDNS_VERSION"
	gm=$(gomod_of "$w" $mod "$COREDNS_VERSION") || return 1
	replaces_of "$gm" "" >>"$w/go.mod"
	{
		echo "// Generated by azds tests/k8s/build.sh: CoreDNS with the plugins"
		echo "// the harness cluster uses."
		echo "package main"
		echo
		echo "import ("
		for p in $COREDNS_PLUGINS; do echo "	_ \"$mod/plugin/$p\""; done
		echo "	\"$mod/coremain\""
		echo ")"
		echo
		echo "func main() { coremain.Run() }"
	} >"$w/main.go"
	tidy "$w" || return 1
	mkdir -p "$out/bin"
	CGO_ENABLED=0 gobuild "$w" -trimpath \
		-ldflags "-s -w -X $mod/coremain.GitCommit=azds-k8s" -o "$out/bin/coredns" . || return 1
	"$out/bin/coredns" -plugins | grep -qx "kubernetes" || {
		echo "coredns was built without its kubernetes plugin" >&2
		return 1
	}
}

build_one() {
	local c=$1 dir tmp t0 t1 rc
	dir=$(component_dir "$c") || die "unknown component '$c'"
	if [ -f "$dir/.complete" ]; then
		log "$c $(component_version "$c"): cached in $dir (built in $(cat "$dir/.build-seconds" 2>/dev/null || echo ?) s)"
		return 0
	fi
	# Whatever a crashed run left for this component goes first.
	rm -rf "$dir" "$dir".tmp.*
	tmp=$dir.tmp.$$
	mkdir -p "$tmp"
	log "$c $(component_version "$c"): building ..."
	t0=$(date +%s)
	rc=0
	case $c in
	kube-*) build_kube "$c" "$tmp" || rc=$? ;;
	kubelet | kubectl) build_kube "$c" "$tmp" || rc=$? ;;
	containerd) build_containerd "$tmp" || rc=$? ;;
	runc) build_runc "$tmp" || rc=$? ;;
	cni-plugins) build_cni "$tmp" || rc=$? ;;
	coredns) build_coredns "$tmp" || rc=$? ;;
	esac
	if [ $rc -ne 0 ]; then
		log "build log kept in $tmp/.src/"
		die "$c $(component_version "$c") did not build (exit $rc)"
	fi
	t1=$(date +%s)
	# Keep the go.mod/go.sum that made it: they are the exact pin.
	mkdir -p "$tmp/src"
	cp "$tmp/.src/go.mod" "$tmp/.src/go.sum" "$tmp/src/" 2>/dev/null || true
	[ ! -f "$tmp/.src/main.go" ] || cp "$tmp/.src/main.go" "$tmp/src/"
	rm -rf "$tmp/.src"
	echo "$((t1 - t0))" >"$tmp/.build-seconds"
	touch "$tmp/.complete"
	mv -T "$tmp" "$dir"
	log "$c $(component_version "$c"): built in $((t1 - t0)) s"
}

ALL=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy containerd runc cni-plugins coredns)

main() {
	if [ "${1:-}" = --print-dir ]; then
		component_dir "$2"
		return
	fi
	if [ "${1:-}" = --prune ]; then
		# Removes what no pinned version uses any more (and crashed runs'
		# temp dirs).
		local keep=" " c d
		for c in "${ALL[@]}"; do keep+="$(component_dir "$c") "; done
		for d in "$CACHE"/*; do
			[ -d "$d" ] || continue
			case $keep in *" $d "*) ;; *) log "prune $d"; rm -rf "$d" ;; esac
		done
		return
	fi
	local list=("$@")
	[ ${#list[@]} -gt 0 ] || list=("${ALL[@]}")
	command -v go >/dev/null || die "go is not installed (Go 1.24 or newer builds Kubernetes v1.34)"
	local gov
	gov=$(go env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	# shellcheck disable=SC2086
	set -- $gov
	[ "${1:-0}" -gt 1 ] || [ "${2:-0}" -ge 24 ] ||
		die "go $(go env GOVERSION 2>/dev/null) is too old: Go 1.24 or newer builds Kubernetes v1.34"
	# Checked on every run (dpkg-query only, no apt-get unless missing):
	# etcd is Debian's, the images are built from busybox-static.
	need_debs etcd-server busybox-static openssl iproute2 util-linux
	mkdir -p "$CACHE"
	# One build at a time per cache: a second run waits, then finds the
	# components the first one built.
	exec 9>"$CACHE/.lock"
	flock 9
	local c t0
	t0=$(date +%s)
	for c in "${list[@]}"; do build_one "$c"; done
	log "all done in $(($(date +%s) - t0)) s"
}

main "$@"
