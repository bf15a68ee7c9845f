// SPDX-License-Identifier: MIT
/* The router's worker listeners (listeners.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <sys/wait.h>
#include "listeners.h"

#define LISTENERS_MAX 64 /* one SCM_RIGHTS message carries them all */

static int listen_one(unsigned id, unsigned n, unsigned port, unsigned flags)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	bool redirect = flags & AZDS_LISTEN_REDIRECT, reuseport = redirect && n > 1;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (!redirect && id > 0) {
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = 0;
	}
	/* accepted sockets inherit TCP_NODELAY: no setsockopt per connection */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    (!redirect && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, AZDS_LISTEN_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int azds_router_listeners_make(unsigned n, unsigned port, unsigned flags, int *fds)
{
	if (n == 0 || n > LISTENERS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		fds[i] = listen_one(i, n, port, flags);
		if (fds[i] < 0) {
			int err = fds[i];

			while (i > 0)
				close(fds[--i]);
			return err;
		}
	}
	return 0;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Is the calling thread in cgroup dir (a v2 directory)? */
static bool in_cgroup(const char *dir)
{
	char line[600], root[256], here[900];
	FILE *f;
	bool yes = false;

	if (azds_cgroup2_root(root, sizeof(root)))
		return false;
	f = fopen("/proc/thread-self/cgroup", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(here, sizeof(here), "%s%s", root, line + 3);
		yes = same_file(here, dir);
	}
	fclose(f);
	return yes;
}

/*
 * In a child: join the cgroup and the namespace, make the listeners and
 * send them back. Everything it needs was prepared before the fork.
 */
static void __attribute__((noreturn))
make_in_child(int sock, int procs_fd, int ns_fd, unsigned n, unsigned port)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * LISTENERS_MAX)];
		struct cmsghdr align;
	} u;
	int fds[LISTENERS_MAX], err = 0;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (procs_fd >= 0 && write(procs_fd, "0\n", 2) != 2)
		err = -errno;
	if (!err && setns(ns_fd, CLONE_NEWNET))
		err = -errno;
	if (!err)
		err = azds_router_listeners_make(n, port, 0, fds);
	if (!err) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	_exit(sendmsg(sock, &msg, 0) < 0 ? 1 : 0);
}

static int make_elsewhere(const char *netns, const char *cgroup, unsigned n, unsigned port, int *fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * LISTENERS_MAX)];
		struct cmsghdr align;
	} u;
	char path[512];
	int sv[2], ns_fd, procs_fd = -1, err = 0, status;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t got;
	pid_t pid;

	/* "" is the current network namespace (the Kubernetes mode's node) */
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	ns_fd = open(netns[0] ? path : "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0)
		return -errno;
	if (cgroup) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
		procs_fd = open(path, O_WRONLY | O_CLOEXEC);
		if (procs_fd < 0) {
			err = -errno;
			close(ns_fd);
			return err;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		make_in_child(sv[1], procs_fd, ns_fd, n, port);
	}
	close(sv[1]);
	do
		got = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		err = -errno;
	else if (got != sizeof(err) && !err)
		err = -EPROTO;
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	cm = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!err && (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int) * n)))
		err = -EPROTO;
	if (cm && cm->cmsg_type == SCM_RIGHTS) {
		/* whatever came is ours now: kept, or closed on error */
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *got_fds = (int *)CMSG_DATA(cm);

		for (size_t i = 0; i < k; i++) {
			if (!err && i < n)
				fds[i] = got_fds[i];
			else
				close(got_fds[i]);
		}
	}
out:
	if (procs_fd >= 0)
		close(procs_fd);
	close(ns_fd);
	return err;
}

int azds_router_listeners_open(const struct azds_inst *in, unsigned n, unsigned port, int *fds)
{
	char cg[300], ns[128];
	const char *cgroup = NULL;
	int err;

	if (n == 0 || n > LISTENERS_MAX)
		return -EINVAL;
	if (in->cgroup_dir[0]) {
		snprintf(cg, sizeof(cg), "%s/_router", in->cgroup_dir); /* '_': never a pod name */
		err = azds_mkdir_p(cg, 0755);
		if (err)
			return err;
		cgroup = cg;
	}
	snprintf(ns, sizeof(ns), "/run/netns/%s", in->node_ns);
	if ((!in->node_ns[0] || same_file("/proc/thread-self/ns/net", ns)) && (!cgroup || in_cgroup(cgroup)))
		err = azds_router_listeners_make(n, port, 0, fds);
	else
		err = make_elsewhere(in->node_ns, cgroup, n, port, fds);
	if (err)
		return err;
	err = azds_dp_listeners_set(in->pin_dir, fds, n);
	if (err) {
		for (unsigned i = 0; i < n; i++) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	return err;
}

void azds_router_listeners_close(const struct azds_inst *in, int *fds, unsigned n)
{
	/* TC falls back to the router port; a closed socket would leave the
	 * map by itself, this only makes it immediate */
	azds_dp_listeners_set(in->pin_dir, NULL, 0);
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int azds_ingress_listen(const char *addr, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd;

	if (port == 0 || port > 65535 || inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR: a restart binds again over TIME_WAIT; a second
	 * listener on the port is still refused (EADDRINUSE) */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, AZDS_LISTEN_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool azds_sock_here(int fd)
{
	struct stat a, b;
	int ns = ioctl(fd, SIOCGSKNS);
	bool same;

	if (ns < 0)
		return false;
	same = fstat(ns, &a) == 0 && stat("/proc/thread-self/ns/net", &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
	close(ns);
	return same;
}

unsigned azds_sock_port(int fd)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &al) || a.sin_family != AF_INET)
		return 0;
	return ntohs(a.sin_port);
}
