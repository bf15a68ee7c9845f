/* SPDX-License-Identifier: MIT */
/*
 * Loader of trace.bpf.c (issue 9): open -> size and reuse the pinned maps
 * -> load -> attach by bpf_link. The links belong to the returned handle:
 * when it is detached, or the process holding it exits, capture stops and
 * nothing of it stays attached. The maps stay pinned in the data plane's
 * pin dir (pods is the data plane's own; trace_rb, trace_counts, trace_off
 * and trace_socks are capture's), so a restarted holder, the controller's
 * reader and the CLI find them by path.
 *
 * The send and receive calls are entered through the socket layer's
 * tracepoints (sock_send_length, sock_recv_length: Linux 6.3 on) where the
 * kernel has them, else through fentry/fexit on inet{,6}_{send,recv}msg
 * (Debian 12's 6.1); OPEN and CLOSE through inet_sock_set_state.
 */
#ifndef AZDS_TRACE_LOAD_H
#define AZDS_TRACE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "trace.h"

/* names of capture's pinned maps in the pin dir */
#define AZDS_TRACE_PIN_RB "trace_rb"
#define AZDS_TRACE_PIN_COUNTS "trace_counts"
#define AZDS_TRACE_PIN_OFF "trace_off"
#define AZDS_TRACE_PIN_SOCKS "trace_socks"

#define AZDS_TRACE_PROGS_MAX 16 /* programs attached by one handle, at most */

struct azds_trace_bpf;

/*
 * Load and attach capture, reusing the maps pinned in pin_dir (the data
 * plane's, e.g. /sys/fs/bpf/azds/<instance>). ring_bytes: trace_rb's size,
 * a power of two >= the page size; 0 keeps the pinned ring's size (or
 * AZDS_TRACE_DEF_RING_BYTES for a first load). A pinned ring of another
 * size is replaced (its unread records are lost; a reader must reopen).
 * Returns 0 with *out set, or -errno: -ENOENT when pin_dir holds no pods
 * map (the data plane is not loaded), without libbpf printing anything.
 */
int azds_trace_bpf_attach(const char *pin_dir, __u32 ring_bytes, struct azds_trace_bpf **out);

/* Detach every program and free the handle (NULL is fine); the maps stay pinned. */
void azds_trace_bpf_detach(struct azds_trace_bpf *t);

/* trace_rb of an attached handle, for ring_buffer__new (owned by the handle). */
int azds_trace_bpf_ring_fd(const struct azds_trace_bpf *t);

/*
 * Records published (on, the default after attach), or none (off): the
 * programs on the send and receive calls are detached, so that nothing
 * runs on the data path (each socket's stream offsets stop moving, which
 * a fresh assembler does not mind), and the one on connection state takes
 * on no new socket and publishes nothing. On attaches them again: a few
 * links (a millisecond or so). Any thread may call it, one at a time.
 * Returns 0 or -errno (a link the kernel refused; the flag is set anyway).
 */
int azds_trace_bpf_publish(struct azds_trace_bpf *t, bool on);

/* The ids of the handle's programs (tests: what must be gone after detach); returns how many. */
int azds_trace_bpf_prog_ids(const struct azds_trace_bpf *t, __u32 *ids, size_t max);

/* Open one of capture's pinned maps (AZDS_TRACE_PIN_*) by path: an fd the caller closes, or -errno. */
int azds_trace_map_open(const char *pin_dir, const char *name);

/* trace_counts summed over CPUs. Returns 0 or -errno. */
int azds_trace_counts(const char *pin_dir, __u64 out[AZDS_TC__COUNT]);

/*
 * Switch capture of one space on (remove it from trace_off) or off (add
 * it). Turning on a space that is on, or off one that is off, is fine.
 * -ENOSPC when AZDS_TRACE_DEF_MAX_OFF spaces are already off.
 */
int azds_trace_space_set(const char *pin_dir, __u32 space, bool on);

/*
 * Can this kernel run capture? Loads the programs with private maps and
 * attaches them for a moment. false with a reason in why ("no kernel BTF
 * (/sys/kernel/btf/vmlinux)", "fentry/inet_sendmsg: attach: Operation not
 * supported", ...), for "trace unavailable: <why>".
 */
bool azds_trace_bpf_supported(char *why, size_t len);

/* libbpf's messages for capture's loads go to stderr when AZDS_TRACE_VERBOSE is set (default: quiet). */

#endif
