// SPDX-License-Identifier: MIT
/*
 * azds-idle: open N TCP connections to ADDR:PORT and hold them idle, so the
 * benchmark can read what idle client connections cost a proxy. Prints
 * "open N" once every connection is established, then waits for SIGTERM
 * and closes them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	char host[64];
	int port, n, *fds, ep, open_ok = 0, inflight = 0, next = 0;

	if (argc != 3 || sscanf(argv[1], "%63[^:]:%d", host, &port) != 2 || (n = atoi(argv[2])) <= 0 ||
	    n > 200000 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "usage: azds-idle ADDR:PORT COUNT   (COUNT 1..200000, ADDR an IPv4 literal)\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)port);
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		perror("azds-idle: setrlimit");
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	fds = calloc((size_t)n, sizeof(int));
	ep = epoll_create1(0);
	if (!fds || ep < 0)
		return 1;
	/* at most 256 handshakes in flight: a burst would overflow backlogs */
	while (open_ok < n && !stop) {
		struct epoll_event evs[256];
		int k;

		while (next < n && inflight < 256) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			struct epoll_event ev = { .events = EPOLLOUT };

			if (fd < 0) {
				perror("azds-idle: socket");
				return 1;
			}
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) {
				fprintf(stderr, "azds-idle: connect #%d: %s\n", next, strerror(errno));
				return 1;
			}
			ev.data.u32 = (uint32_t)next;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			fds[next++] = fd;
			inflight++;
		}
		k = epoll_wait(ep, evs, 256, 5000);
		if (k == 0) {
			fprintf(stderr, "azds-idle: stalled at %d of %d connections\n", open_ok, n);
			return 1;
		}
		for (int i = 0; i < k; i++) {
			int fd = fds[evs[i].data.u32], err = 0;
			socklen_t l = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
			if (err) {
				fprintf(stderr, "azds-idle: connection %u: %s\n", evs[i].data.u32, strerror(err));
				return 1;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			inflight--;
			open_ok++;
		}
	}
	printf("open %d\n", open_ok);
	fflush(stdout);
	while (!stop)
		pause();
	for (int i = 0; i < next; i++)
		close(fds[i]);
	return 0;
}
