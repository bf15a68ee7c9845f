#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs azds's data-plane tests inside qemu on Debian 12's 6.1 cloud kernel.
#   vm-tests/run.sh BUILD_DIR      (BUILD_DIR/bin holds the built binaries)
# Idempotent. Installs the Debian packages it needs when missing, caches the
# newest linux-image-6.1.*-cloud-amd64 under vm-tests/.cache/, builds an
# initramfs (busybox, dash, iproute2, dnsmasq, the kernel modules, azds's
# binaries with their shared libraries), boots it with TCG and no network
# device, and exits 0 only when the VM printed "AZDS-VM-RESULT: PASS".
# Environment: VM_TIMEOUT (seconds, default 600), VM_KERNEL_PKG (a package
# name to use instead of the newest one).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=$HERE/.cache
VM_TIMEOUT=${VM_TIMEOUT:-600}
# BPF unit tests run in the VM when BUILD_DIR has them (test_steer is required)
OPTIONAL_BPF_TESTS="test_connect4 test_steer_veth test_sockmap test_trace"
T0=$(date +%s)

say() { echo "vm-tests: $*"; }
die() {
	echo "vm-tests: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: $0 BUILD_DIR"
BUILD=$(cd "$1" && pwd) || die "no build directory $1"
if [ -x "$BUILD/bin/test_steer" ]; then
	BIN=$BUILD/bin
elif [ -x "$BUILD/test_steer" ]; then
	BIN=$BUILD
else
	die "$BUILD/bin/test_steer not found: build first (scripts/build.sh)"
fi
for b in test_steer azds-controller azds-init azds-router azds azds-probe podserver; do
	[ -x "$BIN/$b" ] || die "$BIN/$b not found: build first"
done
[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get)"

# ---- host packages --------------------------------------------------------
PKGS="qemu-system-x86 busybox-static cpio xz-utils zstd kmod dash iproute2 dnsmasq-base"
UPDATED=0
apt_update_once() {
	if [ "$UPDATED" -eq 0 ]; then
		apt-get update -qq
		UPDATED=1
	fi
}
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt_update_once
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---- the 6.1 kernel ----------------------------------------------------------
mkdir -p "$CACHE"
newest_kernel_pkg() {
	apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n 1
}
KPKG=${VM_KERNEL_PKG:-}
if [ -z "$KPKG" ]; then
	KPKG=$(newest_kernel_pkg)
	if [ -z "$KPKG" ]; then
		apt_update_once
		KPKG=$(newest_kernel_pkg)
	fi
fi
# fetch_kernel PKG: the candidate version into the cache; prints its path
fetch_kernel() {
	local ver deb
	ver=$(apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
	[ -n "$ver" ] || return 1
	deb=$CACHE/${1}_${ver}_amd64.deb
	if [ ! -s "$deb" ]; then
		say "downloading $1 $ver" >&2
		(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$1=$ver" >&2) || return 1
	fi
	[ -s "$deb" ] && echo "$deb"
}
DEB=""
if [ -n "$KPKG" ]; then
	if ! DEB=$(fetch_kernel "$KPKG"); then
		# stale package lists name a version the mirror no longer has
		if [ "$UPDATED" -eq 0 ] && [ -z "${VM_KERNEL_PKG:-}" ]; then
			apt_update_once
			KPKG=$(newest_kernel_pkg)
		fi
		DEB=$( [ -n "$KPKG" ] && fetch_kernel "$KPKG") || say "apt-get download $KPKG failed"
	fi
fi
if [ -z "$DEB" ] || [ ! -s "$DEB" ]; then
	# offline, or no package lists: the newest one cached earlier
	DEB=$(find "$CACHE" -maxdepth 1 -name 'linux-image-6.1.*-cloud-amd64_*_amd64.deb' | sort -V | tail -n 1)
	[ -n "$DEB" ] || die "no linux-image-6.1.*-cloud-amd64 package found or cached"
	say "using cached $(basename "$DEB")"
fi
# drop older cached kernels
find "$CACHE" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$DEB" -delete
KDIR=$CACHE/kernel
STAMP=$KDIR/.from
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(basename "$DEB")" ]; then
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	dpkg-deb -x "$DEB" "$KDIR"
	basename "$DEB" >"$STAMP"
fi
VMLINUZ=$(find "$KDIR/boot" -name 'vmlinuz-*' | head -n 1)
[ -n "$VMLINUZ" ] || die "no vmlinuz in $DEB"
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=$KDIR/lib/modules/$KVER
say "kernel $KVER from $(basename "$DEB")"

# ---- initramfs -----------------------------------------------------------------
ROOT=$CACHE/root
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,lib,lib64}
mkdir -p "$ROOT"/{proc,sys,dev,run,tmp,root,etc/netns,azds/bin,var,lib/modules/"$KVER"}
ln -s ../run "$ROOT/var/run"

# copy_elf SRC DST: a program and every shared library it needs (and the loader)
copy_elf() {
	local src=$1 dst=$2 lib
	install -D -m 0755 "$src" "$ROOT$dst"
	if ldd "$src" 2>&1 | grep -q 'not found'; then
		ldd "$src" >&2
		die "$src: a shared library is missing on the host"
	fi
	for lib in $(ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
		[ -e "$ROOT$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$ROOT$lib"
	done
}

# busybox for the tools; dash as /bin/sh (busybox's shell prefers its own applets,
# so "ip" in a script or system() would not be iproute2's)
install -m 0755 /bin/busybox "$ROOT/bin/busybox"
for a in $("$ROOT/bin/busybox" --list-full); do
	[ -e "$ROOT/$a" ] || [ -L "$ROOT/$a" ] || ln -s /bin/busybox "$ROOT/$a"
done
rm -f "$ROOT/bin/sh"
copy_elf "$(readlink -f /bin/dash)" /bin/sh
copy_elf /usr/sbin/ip /usr/local/sbin/ip
copy_elf "$(command -v ss)" /usr/local/bin/ss
copy_elf /usr/sbin/dnsmasq /usr/local/sbin/dnsmasq
for d in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
	if [ -d "$d" ]; then
		mkdir -p "$ROOT$d"
		cp -a "$d/." "$ROOT$d/"
	fi
done
for b in azds-controller azds-init azds-router azds azds-probe podserver; do
	copy_elf "$BIN/$b" "/azds/bin/$b"
done
# the BPF unit tests run first, in this order: test_steer always, newer ones when built
: >"$ROOT/azds/bpf-tests"
for b in test_steer $OPTIONAL_BPF_TESTS; do
	if [ -x "$BIN/$b" ]; then
		copy_elf "$BIN/$b" "/azds/bin/$b"
		echo "$b" >>"$ROOT/azds/bpf-tests"
	fi
done
install -m 0755 "$HERE/smoke.sh" "$ROOT/azds/smoke.sh"
install -m 0755 "$HERE/vm-init.sh" "$ROOT/init"

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo "hosts: files dns" >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/resolv.conf" # ip netns exec bind-mounts each pod's over it
echo azds-vm >"$ROOT/etc/hostname"

# kernel modules, dependencies first; compressed ones are decompressed here
: >"$ROOT/etc/azds-modules"
declare -A LOADED=()
add_module() {
	local name=$1 f rel dep out
	[ -z "${LOADED[$name]:-}" ] || return 0
	f=$(find "$MODDIR/kernel" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" -o -name "$name.ko.gz" \) | head -n 1)
	if [ -z "$f" ]; then
		# built in? then there is nothing to load
		if grep -q "/$name.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
			LOADED[$name]=builtin
			return 0
		fi
		die "kernel module $name not found in $KVER"
	fi
	LOADED[$name]=1
	rel=${f#"$MODDIR"/}
	rel=${rel%.xz}
	rel=${rel%.zst}
	rel=${rel%.gz}
	out=$ROOT/lib/modules/$KVER/$rel
	mkdir -p "$(dirname "$out")"
	case "$f" in
	*.xz) xz -dc "$f" >"$out" ;;
	*.zst) zstd -qdc "$f" >"$out" ;;
	*.gz) gzip -dc "$f" >"$out" ;;
	*) cp "$f" "$out" ;;
	esac
	for dep in $(modinfo -F depends "$out" | tr ',' ' '); do
		add_module "$dep"
	done
	echo "$rel" >>"$ROOT/etc/azds-modules"
}
for m in veth sch_ingress cls_bpf; do
	add_module "$m"
done

INITRD=$CACHE/initramfs.cpio.gz
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$INITRD"
say "initramfs $(du -h "$INITRD" | cut -f1) ($(tr '\n' ' ' <"$ROOT/etc/azds-modules"))"

# ---- boot ------------------------------------------------------------------------
LOG=$CACHE/console.log
say "booting qemu (tcg, no network device; console log in $LOG, timeout ${VM_TIMEOUT}s)"
T1=$(date +%s)
set +e
timeout --foreground -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
	-machine q35 -accel tcg -cpu max -smp 2 -m 1G \
	-kernel "$VMLINUZ" -initrd "$INITRD" \
	-append "console=ttyS0 rdinit=/init panic=-1 loglevel=4 net.ifnames=0" \
	-nographic -no-reboot -nic none </dev/null 2>&1 | tr -d '\r' >"$LOG"
QRC=${PIPESTATUS[0]}
set -e
T2=$(date +%s)

# the test output: everything from our first line on (the kernel's boot log stays in $LOG)
# (the firmware's terminal escapes can share a line with the first marker)
sed -n '/AZDS-VM-KERNEL: /,$p' "$LOG" | sed 's/^.*\(AZDS-VM-KERNEL: \)/\1/'
RESULT=$(grep -a -o -m 1 'AZDS-VM-RESULT: \(PASS\|FAIL.*\)$' "$LOG" || true)
VMKERNEL=$(grep -a -o -m 1 'AZDS-VM-KERNEL: .*' "$LOG" | sed 's/^AZDS-VM-KERNEL: //' || true)
echo
say "VM kernel: ${VMKERNEL:-unknown}"
say "boot + tests $((T2 - T1)) s, total $((T2 - T0)) s"
if [ -z "$RESULT" ]; then
	[ "$QRC" -eq 124 ] && say "qemu timed out after ${VM_TIMEOUT}s" || say "qemu exited with $QRC"
	say "no result line; last console lines:"
	tail -n 40 "$LOG"
	say "AZDS-VM-RESULT: FAIL (no result from the VM)"
	exit 1
fi
case "$VMKERNEL" in
6.1.*) ;;
*)
	say "AZDS-VM-RESULT: FAIL (the VM ran kernel '${VMKERNEL:-unknown}', not 6.1)"
	exit 1
	;;
esac
say "$RESULT"
case "$RESULT" in
"AZDS-VM-RESULT: PASS") exit 0 ;;
*) exit 1 ;;
esac
