#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the test VM (copied into the initramfs by vm-tests/run.sh).
# Mounts what azds needs, loads the kernel modules, runs the data-plane tests
# and prints exactly one "AZDS-VM-RESULT: PASS" or "AZDS-VM-RESULT: FAIL ..."
# line, then powers the VM off. /bin/sh here is dash: busybox's own shell
# would run its "ip" applet instead of iproute2's ip.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/azds/bin
export HOME=/root TERM=dumb LC_ALL=C

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/netns
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
hostname azds-vm

FAILED=""
fail() { FAILED="$FAILED $1"; }
finish() {
	if [ -z "$FAILED" ]; then
		echo "AZDS-VM-RESULT: PASS"
	else
		echo "AZDS-VM-RESULT: FAIL$FAILED"
	fi
	sync
	poweroff -f
	# not reached unless poweroff failed; -no-reboot turns a reboot into an exit
	echo o >/proc/sysrq-trigger
	reboot -f
	sleep 1000
}

# quiet the console: kernel messages would interleave with test output
echo 4 >/proc/sys/kernel/printk 2>/dev/null

echo
echo "AZDS-VM-KERNEL: $(uname -r) ($(uname -v))"
[ -e /sys/kernel/btf/vmlinux ] && echo "vm: BTF at /sys/kernel/btf/vmlinux" || fail "no-btf"
echo "vm: $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

KVER=$(uname -r)
while read -r mod; do
	[ -n "$mod" ] || continue
	if insmod "/lib/modules/$KVER/$mod"; then
		echo "vm: loaded $(basename "$mod")"
	else
		echo "vm: insmod $mod failed"
		fail "insmod:$(basename "$mod")"
	fi
done </etc/azds-modules

ip link set lo up

# A test runs with a time bound (TCG emulation is slow, but not this slow).
run_test() {
	name=$1 limit=$2
	shift 2
	echo "=== $name: $*"
	start=$(cut -d. -f1 /proc/uptime)
	timeout "$limit" "$@"
	rc=$?
	end=$(cut -d. -f1 /proc/uptime)
	echo "=== $name: exit $rc ($((end - start)) s)"
	[ "$rc" -eq 0 ] || fail "$name(rc=$rc)"
}

if [ -z "$FAILED" ]; then
	for t in $(cat /azds/bpf-tests); do
		run_test "$t" 300 "/azds/bin/$t"
	done
	run_test smoke 480 /bin/sh /azds/smoke.sh /azds/bin
fi
finish
