// SPDX-License-Identifier: MIT
/*
 * The pod's default seccomp filter: a denylist in the spirit of Docker's
 * default profile. Each call below either reaches the kernel's attack
 * surface that no pod needs (modules, kexec, BPF, perf, io_uring, keys),
 * changes the host (clock, swap, reboot, accounting), or undoes the
 * sandbox (mounts, namespaces, another process's memory). They fail with
 * EPERM, as the kernel's own "no capability" answer does, so programs
 * take the path they take in a container. The list is documented in
 * docs/sandbox.md; keep the two together.
 *
 * bwrap applies the filter right before it execs the command, after its
 * own mounts and namespaces are made, so the filter need not allow them.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <seccomp.h>
#include "sandbox.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* EPERM whatever the arguments */
static const char *const deny[] = {
	/* kernel code and introspection */
	"bpf", "perf_event_open", "init_module", "finit_module", "delete_module", "create_module",
	"get_kernel_syms", "query_module", "kexec_load", "kexec_file_load", "lookup_dcookie", "syslog",
	/* io_uring: its operations bypass this filter, and a long record of bugs */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* mounts, old and new API, and the root */
	"mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "mount_setattr",
	/* namespaces: entering one (unshare and clone are filtered by flags below) */
	"setns",
	/* the kernel keyring is not namespaced */
	"keyctl", "add_key", "request_key",
	/* other processes' memory and files */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
	/* file handles bypass path permissions (the "shocker" escape) */
	"open_by_handle_at", "name_to_handle_at",
	/* userfaultfd: a kernel-exploit primitive */
	"userfaultfd",
	/* the host */
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"stime", "sethostname", "setdomainname", "quotactl", "quotactl_fd", "vhangup", "nfsservctl",
	"fanotify_init",
	/* port I/O and 16-bit modes */
	"iopl", "ioperm", "modify_ldt", "vm86", "vm86old",
	/* obsolete */
	"uselib", "ustat", "sysfs", "_sysctl",
};

/* unshare(2) and clone(2) with any of these fail; without them they work
 * (unshare(CLONE_FILES), fork, threads). clone's low byte is the exit
 * signal, so CLONE_NEWTIME (0x80) is checked for unshare only. */
static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
					  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME };

/* the 32-bit ABIs the native one runs: the same list applies there */
static void add_compat_arches(scmp_filter_ctx ctx)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64:
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
		seccomp_arch_add(ctx, SCMP_ARCH_X32);
		break;
	case SCMP_ARCH_AARCH64:
		seccomp_arch_add(ctx, SCMP_ARCH_ARM);
		break;
	default:
		break;
	}
}

static int add_rules(scmp_filter_ctx ctx, const char **what)
{
	int err, nr;

	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		nr = seccomp_syscall_resolve_name(deny[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: not in the kernel's table either */
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (err && err != -EDOM) {
			*what = deny[i];
			return err;
		}
	}
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		unsigned long f = ns_flags[i];

		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (!err && f != CLONE_NEWTIME)
			err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					       SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (err) {
			*what = "unshare/clone namespace flags";
			return err;
		}
	}
	/* (the kernel reads the family as an int: the mask keeps a value with
	 * high bits set from passing the filter and reaching it as AF_VSOCK)
	 * vsock ignores network namespaces: a pod would reach the hypervisor's
	 * vsock services and any vsock listener on the host past its veth and
	 * the data plane. The family alone is refused (Docker's profile does
	 * the same). A 32-bit program that reaches socket() through
	 * socketcall (its arguments in memory a filter cannot read) is not
	 * checked: docs/sandbox.md names the gap */
	err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, AF_VSOCK));
	if (err && err != -EDOM) {
		*what = "socket(AF_VSOCK)";
		return err;
	}
	/* clone3 passes its flags in memory a filter cannot read: ENOSYS
	 * makes glibc fall back to clone, whose flags are checked above */
	err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (err && err != -EDOM) {
		*what = "clone3";
		return err;
	}
	return 0;
}

int sandbox_seccomp_fd(const char **what)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int fd = -1, err;

	*what = "seccomp_init";
	if (!ctx)
		return -ENOMEM;
	add_compat_arches(ctx);
	err = add_rules(ctx, what);
	if (!err) {
		/* no MFD_CLOEXEC: bwrap reads it after exec */
		fd = memfd_create("azds-seccomp", 0);
		if (fd < 0) {
			*what = "memfd_create";
			err = -errno;
		}
	}
	if (!err) {
		*what = "seccomp_export_bpf";
		err = seccomp_export_bpf(ctx, fd);
	}
	if (!err && lseek(fd, 0, SEEK_SET) < 0) {
		*what = "lseek";
		err = -errno;
	}
	seccomp_release(ctx);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err < 0 ? err : -err;
	}
	return fd;
}
