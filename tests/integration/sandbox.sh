#!/bin/bash
# SPDX-License-Identifier: MIT
# Pods are sandboxes (azds-init sandbox, docs/sandbox.md). From inside a
# sandboxed pod every way out fails with the error it must: the pinned maps,
# the bpf() call, the node's network namespace, the router and other pods'
# processes, writes outside the workspace, the limits, root, capabilities,
# new namespaces. And a sandboxed pod still works as a pod: it binds port 80
# as its own uid, is reached through the router by its service name, and its
# connect() to a TCP service is balanced in the kernel (the data plane's
# cgroup programs still see it in its cgroup v2 directory).
# The pods are started exactly as the controller's supervisor starts them.
INST=${AZDS_TEST_PREFIX:-}itsandbox
. "$(dirname "$0")/lib.sh"
NODE=azds-$INST-node
STATE=/var/lib/azds/$INST
U_WEB=241001 U_ECHO=241002 U_CLI=241003 U_LIM=241004
STARTED=
CGV2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)

# cgdir CTRL [POD]: where controller CTRL keeps the instance's (or pod's)
# limits: its v1 hierarchy on a hybrid host, the v2 tree on a unified one
cgdir() {
	local m
	m=$(awk -v c="$1" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/mounts)
	if [ -n "$m" ]; then echo "$m/azds-$INST${2:+/$2}"; else echo "$CGV2/azds-$INST${2:+/$2}"; fi
}

# what a crashed run may have left besides the instance: v1 limit
# cgroups (killed first), workspaces
podcg_clean() {
	local c d p
	for c in memory pids cpu; do
		d=$(cgdir "$c")
		case "$d" in "$CGV2"/*) continue ;; esac
		[ -d "$d" ] || continue
		for p in "$d"/*/; do
			[ -d "$p" ] || continue
			xargs -r kill -9 <"$p/cgroup.procs" 2>/dev/null
			for i in $(seq 1 200); do rmdir "$p" 2>/dev/null && break; sleep 0.05; done
		done
		rmdir "$d" 2>/dev/null
	done
	rm -rf "$STATE"
}
trap 'kill -9 $STARTED 2>/dev/null; cleanup; podcg_clean' EXIT
$CTL stop >/dev/null 2>&1
podcg_clean

# sb POD UID [sandbox options] -- CMD...: run CMD sandboxed in POD
sb() {
	local pod=$1 uid=$2
	shift 2
	$INIT sandbox --pod "$pod" --uid "$uid" "$@"
}

# Inside the pod, the calls a shell cannot make: each prints NAME=RESULT,
# RESULT being "ok" or the errno's name.
HELPER=$(cat <<'EOF'
import ctypes, errno, os, signal, socket, sys, time

libc = ctypes.CDLL(None, use_errno=True)
arch = os.uname().machine
# syscall numbers where libc has no wrapper (x86_64, aarch64)
NR = {"x86_64": dict(bpf=321, keyctl=250, perf_event_open=298, io_uring_setup=425, clone3=435,
                     userfaultfd=323, kexec_load=246, init_module=175, open_by_handle_at=304),
      "aarch64": dict(bpf=280, keyctl=219, perf_event_open=241, io_uring_setup=425, clone3=435,
                      userfaultfd=282, kexec_load=104, init_module=105, open_by_handle_at=265)}[arch]

def res(rc):
    return "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]

def sysc(name, *args):
    ctypes.set_errno(0)
    return res(libc.syscall(NR[name], *[ctypes.c_long(a) for a in args]))

def call(f, *args):
    ctypes.set_errno(0)
    return res(f(*args))

def pyerr(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]

def syscalls():
    buf = ctypes.create_string_buffer(256)
    out = {}
    out["bpf"] = sysc("bpf", 0, ctypes.addressof(buf), 72)  # BPF_MAP_CREATE
    out["keyctl"] = sysc("keyctl", 0, -4, 1)  # KEYCTL_GET_KEYRING_ID of the user keyring
    out["perf_event_open"] = sysc("perf_event_open", ctypes.addressof(buf), 0, -1, -1, 0)
    out["io_uring_setup"] = sysc("io_uring_setup", 1, ctypes.addressof(buf))
    out["clone3"] = sysc("clone3", ctypes.addressof(buf), 88)
    out["userfaultfd"] = sysc("userfaultfd", 0)
    out["kexec_load"] = sysc("kexec_load", 0, 0, 0, 0)
    out["init_module"] = sysc("init_module", 0, 0, 0)
    out["open_by_handle_at"] = sysc("open_by_handle_at", -100, ctypes.addressof(buf), 0)
    out["unshare_user"] = call(libc.unshare, 0x10000000)
    out["unshare_net"] = call(libc.unshare, 0x40000000)
    out["unshare_mount"] = call(libc.unshare, 0x00020000)
    out["unshare_files"] = call(libc.unshare, 0x00000400)  # no namespace: allowed
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    out["setns_net"] = call(libc.setns, fd, 0)
    out["mount"] = call(libc.mount, b"none", b"/tmp", b"tmpfs", 0, None)
    out["ptrace"] = call(libc.ptrace, 0, 0, 0, 0)  # PTRACE_TRACEME
    out["chroot"] = call(libc.chroot, b"/tmp")
    out["reboot"] = call(libc.reboot, 0)  # LINUX_REBOOT_CMD_CAD_OFF
    out["sethostname"] = call(libc.sethostname, b"x", 1)
    out["socket_vsock"] = pyerr(lambda: socket.socket(40, socket.SOCK_STREAM))  # AF_VSOCK
    # the family with high bits set: the kernel reads an int, the filter must too
    ctypes.set_errno(0)
    out["socket_vsock_high"] = res(libc.syscall(ctypes.c_long(41 if arch == "x86_64" else 198),
                                                ctypes.c_long((1 << 32) | 40), ctypes.c_long(1), ctypes.c_long(0)))
    out["socket_inet"] = pyerr(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    pid = os.fork()  # glibc fork: clone without namespace flags
    if pid == 0:
        os._exit(7)
    out["fork"] = "ok" if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else "bad"
    for k, v in out.items():
        print("%s=%s" % (k, v))

def escapes(maps, router_pid, other_pid, node):
    print("open_maps=" + pyerr(lambda: os.open(maps, os.O_RDONLY)))
    print("kill_router=" + pyerr(lambda: os.kill(int(router_pid), 0)))
    print("kill_other_pod=" + pyerr(lambda: os.kill(int(other_pid), 0)))
    print("open_node_netns=" + pyerr(lambda: os.open("/run/netns/" + node, os.O_RDONLY)))

def forks(limit):
    # fork until refused; the children wait to be killed
    kids, err = [], "none"
    while len(kids) < int(limit):
        try:
            pid = os.fork()
        except OSError as e:
            err = errno.errorcode[e.errno]
            break
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        kids.append(pid)
    print("forked=%d refused=%s" % (len(kids), err))
    for k in kids:
        os.kill(k, signal.SIGKILL)

def hog(mib):
    # touched pages, not just reserved ones: each byte is written
    x = b"\x01" * (int(mib) << 20)
    print("allocated %d" % len(x))

{"syscalls": syscalls, "escapes": escapes, "forks": forks, "hog": hog}[sys.argv[1]](*sys.argv[2:])
EOF
)

# --- the node, the pods -------------------------------------------------------
$CTL start >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
$CTL space add dev || exit 1
$CTL service add dev web --port 80 --target-port 80 || exit 1
$CTL service add dev echo --kind tcp --port 7000 --target-port 7000 || exit 1
$INIT add --pod web --space dev --service web >/dev/null || exit 1
$INIT add --pod echo --space dev --service echo >/dev/null || exit 1
$INIT add --pod client --space dev >/dev/null || exit 1
$INIT add --pod lim --space dev >/dev/null || exit 1
ws() { echo "$STATE/pods/$1/workspace"; }
# the sandbox hides the host's /tmp, where the build is: the pods' programs
# go into their workspaces (a real pod's come from its synced source)
for p in web echo client lim; do
	mkdir -p "$(ws $p)"
	cp "$BIN/podserver" "$BIN/azds-probe" "$(ws $p)/"
	echo "$HELPER" >"$(ws $p)/helper.py"
done

# $INIT directly, not sb: $! is then the process a supervisor would have
# started (azds-init, which becomes bwrap in place)
$INIT sandbox --pod web --uid $U_WEB -- /workspace/podserver --pod web --space dev --service web \
	--listen 0.0.0.0:80 >>"$WORK/web.log" 2>&1 &
WEB_PID=$!
$INIT sandbox --pod echo --uid $U_ECHO -- /workspace/podserver --pod echo --space dev --service echo \
	--listen 0.0.0.0:7000 --tcp >>"$WORK/echo.log" 2>&1 &
ECHO_PID=$!
STARTED="$WEB_PID $ECHO_PID"
# readiness only (bounded): the servers log once they listen
for i in $(seq 1 200); do
	grep -q listening "$WORK/web.log" 2>/dev/null && grep -q listening "$WORK/echo.log" 2>/dev/null && break
	sleep 0.05
done
expect_contains "a sandboxed pod binds port 80 as uid $U_WEB" "$(cat "$WORK/web.log")" \
	"pod=web space=dev service=web listening on 0.0.0.0:80"
expect_contains "the other sandboxed pod listens" "$(cat "$WORK/echo.log")" "listening on 0.0.0.0:7000"
expect_eq "port 80 is unprivileged in the pod's namespace only" \
	"$(ip netns exec azds-$INST-p-web sysctl -n net.ipv4.ip_unprivileged_port_start) $(sysctl -n net.ipv4.ip_unprivileged_port_start)" \
	"0 $(sysctl -n net.ipv4.ip_unprivileged_port_start)"

# --- as the host sees it --------------------------------------------------------
pids=$(cat "$CGV2/azds-$INST/web/cgroup.procs")
uids=$(for p in $pids; do awk '$1 == "Uid:" { print $2, $3, $4, $5 }' /proc/$p/status; done | sort -u)
expect_eq "every process of the pod runs as its uid on the host (real, effective, saved, fs)" \
	"$uids" "$U_WEB $U_WEB $U_WEB $U_WEB"
comms=$(for p in $pids; do cat /proc/$p/comm; done | sort | tr '\n' ' ')
expect_eq "the pod's v2 cgroup holds bwrap, its init and the command" "$comms" "bwrap bwrap podserver "
expect_eq "the supervisor's pid is the pod's (bwrap, which waits for the command)" \
	"$(cat /proc/$WEB_PID/comm) $(awk '$1 == "Uid:" { print $2 }' /proc/$WEB_PID/status)" "bwrap $U_WEB"
for c in memory pids cpu; do
	expect_eq "the pod's $c cgroup holds the same processes" \
		"$(sort "$(cgdir $c web)/cgroup.procs" | tr '\n' ' ')" "$(echo "$pids" | sort | tr '\n' ' ')"
done
if [ -e "$(cgdir memory web)/memory.limit_in_bytes" ]; then
	lims="$(cat "$(cgdir memory web)/memory.limit_in_bytes") $(cat "$(cgdir pids web)/pids.max")"
	lims="$lims $(cat "$(cgdir cpu web)/cpu.cfs_quota_us")/$(cat "$(cgdir cpu web)/cpu.cfs_period_us")"
	expect_eq "default limits: 512Mi memory, 512 pids, 1000m cpu" "$lims" "536870912 512 100000/100000"
else
	lims="$(cat "$(cgdir memory web)/memory.max") $(cat "$(cgdir pids web)/pids.max") $(cat "$(cgdir cpu web)/cpu.max")"
	expect_eq "default limits: 512Mi memory, 512 pids, 1000m cpu" "$lims" "536870912 512 100000 100000"
fi
sb client $U_CLI -- true
expect_eq "the workspace is made the pod's: owner uid, mode 0700" "$(stat -c '%u %a' "$(ws client)")" "$U_CLI 700"

# --- who the pod is ------------------------------------------------------------
r=$(AZDS_SB_SECRET=leak sb client $U_CLI --env GREETING=hi -- sh -c 'id -u; id -g; id -G; hostname; env | sort')
expect_eq "id inside: its own uid and gid, no other group, never 0" "$(echo "$r" | head -3 | tr '\n' ' ')" \
	"$U_CLI $U_CLI $U_CLI "
expect_contains "its hostname is the pod's" "$(echo "$r" | sed -n 4p)" "client"
expect_contains "a clean environment: HOME" "$r" "HOME=/workspace"
expect_contains "a clean environment: PATH" "$r" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
expect_contains "a clean environment: --env" "$r" "GREETING=hi"
expect_not_contains "nothing of the caller's environment" "$r" "AZDS_SB_SECRET"
r=$(sb client $U_CLI -- sh -c 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t" " "')
expect_eq "no capabilities, no_new_privs, a seccomp filter" "$(echo "$r" | tr '\n' ' ')" \
	"CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 0000000000000000 CapAmb: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 "
exec 7</dev/null 8>"$WORK/leak"
r=$(sb client $U_CLI -- sh -c 'ls /proc/self/fd | tr "\n" " "')
exec 7<&- 8>&-
expect_eq "no descriptor of the caller's reaches the pod (only 0 1 2 and ls's own)" "$r" "0 1 2 3 "
r=$(sb client $U_CLI -- sh -c 'read x; echo "stdin=[$x] $?"' <<<"from-the-caller")
expect_eq "stdin is /dev/null" "$r" "stdin=[] 1"

# --- a workdir the caller gave: POSIX ACLs, never a chown or chmod ---------------
# (azds pod run grab --workdir /tmp/victim once took any user's directory)
U_VIC=241005 U_OTHER=241006
VIC=$WORK/victim
mkdir -p "$VIC/sub"
echo mine >"$VIC/sub/file"
echo theirs >"$VIC/theirs"
echo outside >"$WORK/outside"
ln -s "$WORK/outside" "$VIC/link"
chown -hR $U_VIC:$U_VIC "$VIC"
chown $U_OTHER:$U_OTHER "$VIC/theirs" "$WORK/outside"
chmod 0700 "$VIC" "$VIC/sub"
chmod 0600 "$VIC/sub/file" "$VIC/theirs" "$WORK/outside"
acls() { getfacl -cp "$@" 2>&1 | tr '\n' ' '; }
vic_acl=$(acls "$VIC")
r=$(sb client $U_CLI --workdir "$VIC" -- sh -c 'cat /workspace/sub/file; echo pod >/workspace/sub/new && echo wrote;
	mkdir /workspace/sub/made && echo deep >/workspace/sub/made/f && echo made; cat /workspace/theirs' 2>&1)
expect_eq "a lent workdir keeps its owner and its group (uid $U_VIC)" \
	"$(stat -c '%u:%g' "$VIC" "$VIC/sub" "$VIC/sub/file" | tr '\n' ' ')" "$U_VIC:$U_VIC $U_VIC:$U_VIC $U_VIC:$U_VIC "
expect_contains "the pod reads the owner's file in it" "$r" "mine"
expect_contains "and writes in it, also in a directory it makes" "$r" "wrote"
expect_contains "(made)" "$r" "made"
expect_contains "a file of someone else's in it stays closed to the pod" "$r" "/workspace/theirs: Permission denied"
r=$(setpriv --reuid $U_VIC --regid $U_VIC --clear-groups sh -c "cat '$VIC/sub/file' && ls '$VIC/sub'" 2>&1 | tr '\n' ' ')
expect_eq "its owner is not locked out: reads and lists it as before" "$r" "mine file made new "
expect_eq "the pod's uid has access and default entries u:$U_CLI:rwx on the directories" \
	"$(getfacl -cp "$VIC" "$VIC/sub" | grep -E "^(default:)?user:$U_CLI:" | tr '\n' ' ')" \
	"user:$U_CLI:rwx default:user:$U_CLI:rwx user:$U_CLI:rwx default:user:$U_CLI:rwx "
expect_eq "and u:$U_CLI:rw- on the owner's file (rwX: no x on a file without one)" \
	"$(getfacl -cp "$VIC/sub/file" | grep "^user:$U_CLI:")" "user:$U_CLI:rw-"
expect_contains "the group's own entry is unchanged (---; ls's group bits show the mask)" "$(acls "$VIC")" "group::--- "
expect_eq "nothing of another user's, nor a symlink's target, gets an entry" \
	"$(getfacl -cp "$VIC/theirs" "$WORK/outside" | grep -c ":$U_CLI:")" "0"
$INIT workdir revoke --uid $U_CLI "$VIC" || bad "workdir revoke"
expect_eq "revoke leaves no entry of the pod's uid in the tree (what the pod made too)" \
	"$(getfacl -Rcp "$VIC" 2>/dev/null | grep -c ":$U_CLI:")" "0"
expect_eq "the workdir's ACL is exactly as before (none: its mode 0700)" "$(acls "$VIC")" "$vic_acl"
expect_eq "modes as before" "$(stat -c %a "$VIC" "$VIC/sub" "$VIC/sub/file" | tr '\n' ' ')" "700 700 600 "
r=$(sb client $U_CLI --workdir "$(ws web)" -- true 2>&1)
expect_eq "another pod's workspace (under /var/lib/azds) is refused (127)" "$? $r" \
	"127 azds-init: sandbox: workspace: $(ws web) is azds's state: a pod's workdir there is only its own default (no --workdir)"
expect_eq "and stays that pod's" "$(stat -c '%u %a' "$(ws web)")" "$U_WEB 700"
ln -sfn "$WORK" "$WORK/via"
r=$(sb client $U_CLI --workdir "$WORK/via/victim" -- true 2>&1)
expect_eq "a workdir through a symlink is refused (127)" "$? $r" \
	"127 azds-init: sandbox: workspace: $WORK/via/victim is $VIC: a workdir is given by its real path, through no symlink"
ln -sfn "$VIC" "$WORK/vlink"
r=$(sb client $U_CLI --workdir "$WORK/vlink" -- true 2>&1)
expect_eq "a workdir that is a symlink is refused (127)" "$? $r" \
	"127 azds-init: sandbox: workspace: $WORK/vlink is a symlink: a workdir is given by its real path"
expect_eq "neither touched the workdir" "$(stat -c '%u %a' "$VIC") $(getfacl -Rcp "$VIC" 2>/dev/null | grep -c ":$U_CLI:")" \
	"$U_VIC 700 0"
r=$(sb client $U_CLI --workdir "$WORK/nosuch" -- true 2>&1)
expect_eq "a missing workdir is never made (127)" "$? $([ -e "$WORK/nosuch" ] && echo made || echo absent)" "127 absent"
sb client $U_CLI --workdir "$(ws client)" -- true
expect_eq "the default workspace named with --workdir (as the controller does) is still the pod's own" \
	"$(stat -c '%u %a' "$(ws client)")" "$U_CLI 700"

# --- the escapes ------------------------------------------------------------------
MAP=$(ls /sys/fs/bpf/azds/$INST/ | head -1)
[ -n "$MAP" ] && ok "the host has pinned maps at /sys/fs/bpf/azds/$INST ($MAP...)" || bad "no pinned maps on the host"
ROUTER=$(cat /run/azds/$INST/router.pid)
OTHER=$(for p in $(cat "$CGV2/azds-$INST/web/cgroup.procs"); do [ "$(cat /proc/$p/comm)" = podserver ] && echo $p; done)
kill -0 "$ROUTER" && kill -0 "$OTHER" && ok "the router ($ROUTER) and web's podserver ($OTHER) run, seen from the host" ||
	bad "router or web pod not running"
r=$(sb client $U_CLI -- python3 /workspace/helper.py escapes "/sys/fs/bpf/azds/$INST/$MAP" "$ROUTER" "$OTHER" "$NODE" 2>&1)
expect_contains "open a pinned map: ENOENT (bpffs hidden)" "$r" "open_maps=ENOENT"
expect_contains "signal the router by its host pid: ESRCH (another PID namespace)" "$r" "kill_router=ESRCH"
expect_contains "signal another pod's process: ESRCH" "$r" "kill_other_pod=ESRCH"
expect_contains "open the node's namespace file: ENOENT (/run is the pod's own)" "$r" "open_node_netns=ENOENT"
r=$(sb client $U_CLI -- sh -c "ls /sys/fs/bpf/azds 2>&1; ls /run/azds 2>&1; ls /var/lib/azds 2>&1 | wc -l; ls /sys/fs/cgroup | wc -l")
expect_contains "ls the pinned maps: no such directory" "$r" "cannot access '/sys/fs/bpf/azds': No such file or directory"
expect_contains "ls the instance's runtime (API socket, pid files): no such directory" "$r" \
	"cannot access '/run/azds': No such file or directory"
expect_eq "azds's state (other pods' workspaces) and the host's cgroups are empty" "$(echo "$r" | tail -2 | tr '\n' ' ')" "0 0 "
r=$(sb client $U_CLI -- sh -c 'ls -A /etc/netns | wc -l; head -c 200 /etc/resolv.conf')
[ -d "/etc/netns/azds-$INST-p-client" ] && ok "the host lists the pod namespaces in /etc/netns" || bad "no /etc/netns entry for the pod"
expect_eq "/etc/netns (every pod namespace of the node by name) is empty in a pod" "$(echo "$r" | head -1)" 0
expect_contains "... while the pod's own resolv.conf is still in place" "$r" "search"
r=$(sb client $U_CLI -- nsenter --net=/run/netns/$NODE true 2>&1; echo "rc=$?")
expect_contains "nsenter into the node's namespace fails" "$r" "No such file or directory"
expect_not_contains "nsenter into the node's namespace fails (status)" "$r" "rc=0"
r=$(sb client $U_CLI -- sh -c 'exec nsenter --net=/proc/1/ns/net true' 2>&1; echo "rc=$?")
expect_contains "setns into any namespace, even its own: Operation not permitted" "$r" "Operation not permitted"
r=$(sb client $U_CLI -- sh -c 'ps -eo comm= >/tmp/ps; sort /tmp/ps | tr "\n" " "')
expect_eq "ps sees only the pod's own processes (bwrap's init, sh, ps)" "$r" "bwrap ps sh "
r=$(sb client $U_CLI -- sh -c 'cd /proc && echo [0-9]*')
expect_eq "and so does /proc: pid 1 (bwrap's init) and 2 (sh), and the glob's own" "$r" "1 2"
expect_not_contains "no process of another pod or of the node is listed" "$r" "podserver"
r=$(sb client $U_CLI -- sh -c 'for f in /etc/x /usr/x /x /var/tmp/x /home/x; do touch $f 2>&1; done; echo mark >/tmp/sb-mark && echo tmp-written; echo hello >/workspace/out && echo ws-written')
expect_contains "touch /etc/x: read-only" "$r" "touch: cannot touch '/etc/x': Read-only file system"
expect_contains "touch /usr/x: read-only" "$r" "touch: cannot touch '/usr/x': Read-only file system"
expect_contains "touch /x: read-only" "$r" "touch: cannot touch '/x': Read-only file system"
expect_contains "touch /var/tmp/x: read-only" "$r" "touch: cannot touch '/var/tmp/x': Read-only file system"
expect_contains "/tmp is writable inside" "$r" "tmp-written"
[ ! -e /tmp/sb-mark ] && ok "a file written to the pod's /tmp is not in the host's /tmp" || bad "/tmp/sb-mark reached the host"
expect_contains "the workspace is writable" "$r" "ws-written"
expect_eq "what the pod wrote to /workspace is in its workspace on the host, as its uid" \
	"$(cat "$(ws client)/out") $(stat -c %u "$(ws client)/out")" "hello $U_CLI"
r=$(sb client $U_CLI -- sh -c "test -e $WORK && echo visible || echo hidden")
expect_eq "the host's /tmp (the test's own files) is hidden" "$r" "hidden"
r=$(sb client $U_CLI -- cat "/var/lib/azds/$INST/pods/web/workspace/podserver" 2>&1 >/dev/null)
expect_contains "another pod's workspace: not there" "$r" "No such file or directory"

# the seccomp filter, call by call (and what it lets through)
r=$(sb client $U_CLI -- python3 /workspace/helper.py syscalls 2>&1)
for c in bpf keyctl perf_event_open io_uring_setup userfaultfd kexec_load init_module open_by_handle_at \
	unshare_user unshare_net unshare_mount setns_net mount ptrace chroot reboot sethostname; do
	expect_contains "$c: EPERM" "$r" "$c=EPERM"
done
expect_contains "clone3: ENOSYS (glibc falls back to clone, whose flags are checked)" "$r" "clone3=ENOSYS"
expect_contains "unshare without namespace flags still works" "$r" "unshare_files=ok"
expect_contains "fork still works" "$r" "fork=ok"
expect_contains "socket(AF_VSOCK): EAFNOSUPPORT (vsock ignores network namespaces)" "$r" "socket_vsock=EAFNOSUPPORT"
expect_contains "socket(AF_VSOCK with high bits set): EAFNOSUPPORT too" "$r" "socket_vsock_high=EAFNOSUPPORT"
expect_contains "socket(AF_INET) still works" "$r" "socket_inet=ok"
r=$(sb client $U_CLI -- unshare -U true 2>&1)
expect_contains "unshare -U: Operation not permitted (seccomp, before --disable-userns)" "$r" "Operation not permitted"
# the control: the same calls as root outside any sandbox (azds-init exec) get past the filter
r=$($INIT exec --pod client -- python3 "$(ws client)/helper.py" syscalls 2>&1)
expect_contains "control: unshare of a user namespace works outside the sandbox" "$r" "unshare_user=ok"
expect_contains "control: keyctl works outside the sandbox" "$r" "keyctl=ok"

# --- limits ----------------------------------------------------------------------
r=$(sb lim $U_LIM --pids 16 -- python3 /workspace/helper.py forks 64 2>&1)
expect_contains "fork past --pids 16 is refused with EAGAIN" "$r" "refused=EAGAIN"
n=$(echo "$r" | sed -n 's/.*forked=\([0-9]*\).*/\1/p')
[ -n "$n" ] && [ "$n" -le 13 ] && ok "at most 13 forks (bwrap, its init and python hold 3 of 16): $n" ||
	bad "forks under --pids 16: [$r]"
expect_eq "pids.max is 16" "$(cat "$(cgdir pids lim)/pids.max")" "16"
ev=$(awk '$1 == "max" { print $2 }' "$(cgdir pids lim)/pids.events")
[ "${ev:-0}" -gt 0 ] && ok "pids.events counted the refusals ($ev)" || bad "pids.events: [$ev]"
sb lim $U_LIM --memory 64Mi -- python3 /workspace/helper.py hog 256 >"$WORK/hog.log" 2>&1
rc=$?
expect_eq "allocating 256Mi under --memory 64Mi: the process is OOM-killed (bwrap exits 128+SIGKILL)" "$rc" "137"
expect_not_contains "the allocation never completed" "$(cat "$WORK/hog.log")" "allocated"
if [ -e "$(cgdir memory lim)/memory.oom_control" ]; then
	expect_eq "memory.limit_in_bytes is 64Mi" "$(cat "$(cgdir memory lim)/memory.limit_in_bytes")" "67108864"
	kills=$(awk '$1 == "oom_kill" { print $2 }' "$(cgdir memory lim)/memory.oom_control")
	fails=$(cat "$(cgdir memory lim)/memory.failcnt")
else
	expect_eq "memory.max is 64Mi" "$(cat "$(cgdir memory lim)/memory.max")" "67108864"
	kills=$(awk '$1 == "oom_kill" { print $2 }' "$(cgdir memory lim)/memory.events")
	fails=$(awk '$1 == "max" { print $2 }' "$(cgdir memory lim)/memory.events")
fi
[ "${kills:-0}" -ge 1 ] && ok "the pod's memory cgroup counted an OOM kill ($kills)" || bad "oom_kill: [$kills]"
[ "${fails:-0}" -ge 1 ] && ok "and hits of its limit ($fails)" || bad "failcnt: [$fails]"
r=$(sb lim $U_LIM --memory 64Mi -- python3 /workspace/helper.py hog 16 2>&1)
expect_eq "16Mi under the same limit is fine" "$r" "allocated 16777216"
sb lim $U_LIM --cpu 250m -- true
if [ -e "$(cgdir cpu lim)/cpu.cfs_quota_us" ]; then
	expect_eq "--cpu 250m: 25 ms of every 100 ms" \
		"$(cat "$(cgdir cpu lim)/cpu.cfs_quota_us")/$(cat "$(cgdir cpu lim)/cpu.cfs_period_us")" "25000/100000"
else
	expect_eq "--cpu 250m: 25 ms of every 100 ms" "$(cat "$(cgdir cpu lim)/cpu.max")" "25000 100000"
fi

# --- still a pod of the data plane ------------------------------------------------------
r=$(sb client $U_CLI -- cat /etc/resolv.conf)
expect_contains "the pod's resolv.conf: its space's search list" "$r" "search dev.azds"
want=$($INIT exec --pod client -- getent hosts web | awk '{ print $1 }')
r=$(sb client $U_CLI -- getent hosts web)
expect_eq "the service name resolves inside the sandbox" "$(echo "$r" | awk '{ print $1 }')" "$want"
steered=$(counter steered)
r=$(sb client $U_CLI -- /workspace/azds-probe get web:80 / 2>&1)
expect_contains "HTTP from a sandboxed pod to a sandboxed pod's port 80, through the router" "$r" \
	"pod=web space=dev service=web method=GET path=/"
[ "$(counter steered)" -gt "$steered" ] && ok "the connection was steered to the router" || bad "steered did not grow"
balanced=$(counter lb_balanced)
r=$(sb client $U_CLI -- /workspace/azds-probe tcp echo:7000 --bytes 100000 2>&1)
expect_contains "TCP from a sandboxed pod reaches the sandboxed echo" "$r" "pod=echo space=dev"
expect_contains "its bytes arrive unchanged" "$r" "ok bytes=100000"
expect_eq "and its connect() was balanced in the kernel (cgroup v2 ancestry intact)" "$(counter lb_balanced)" \
	"$((balanced + 1))"

# --- a command under /tmp: the file alone is shown, never its directory ------------
# (an executable dropped into /tmp/.X11-unix once brought the host's X sockets)
CMDDIR=$WORK/cmd
mkdir -p "$CMDDIR"
printf '#!/bin/sh\necho ran; ls "$(dirname "$0")"; cat %s/sibling 2>&1\n' "$CMDDIR" >"$CMDDIR/run.sh"
chmod 0755 "$CMDDIR/run.sh"
echo secret >"$CMDDIR/sibling"
chmod 0644 "$CMDDIR/sibling"
r=$(sb client $U_CLI -- "$CMDDIR/run.sh" 2>&1)
expect_eq "a command under /tmp runs, alone in its directory: a sibling file is not there" "$(echo "$r" | tr '\n' ' ')" \
	"ran run.sh cat: $CMDDIR/sibling: No such file or directory "
ln -sfn "$CMDDIR/run.sh" "$WORK/run-alias"
r=$(sb client $U_CLI -- "$WORK/run-alias" 2>&1)
expect_eq "through a symlink under /tmp too (argv[0]'s path is the file)" "$(echo "$r" | head -1)" "ran"
chmod 0775 "$CMDDIR/run.sh"
r=$(sb client $U_CLI -- "$CMDDIR/run.sh" 2>&1)
expect_eq "a group-writable command under /tmp is refused (127)" "$? $r" \
	"127 azds-init: sandbox: command: $CMDDIR/run.sh is writable by group or others (mode 0775): a command under /tmp or /run must not be"
chmod 0755 "$CMDDIR/run.sh"
mkdir -p "$WORK/private"
chmod 0700 "$WORK/private"
cp -p "$CMDDIR/run.sh" "$WORK/private/run.sh"
r=$(sb client $U_CLI -- "$WORK/private/run.sh" 2>&1)
expect_eq "one its uid cannot reach on the host is refused: root's staging opens nothing for it (127)" "$? $r" \
	"127 azds-init: sandbox: command: $WORK/private/run.sh: Permission denied (as uid $U_CLI)"
r=$(sb client $U_CLI -- "$CMDDIR" 2>&1)
expect_eq "a directory as the command is refused, never bound (127)" "$? $r" \
	"127 azds-init: sandbox: command: $CMDDIR: a command under /tmp or /run must be a regular file"

# --- the verb's own contract -------------------------------------------------------
r=$(sb nosuch 241009 -- true 2>&1)
rc=$?
expect_eq "a pod that does not exist: exit 127" "$rc" "127"
expect_eq "one line naming it" "$r" \
	"azds-init: sandbox: pod \"nosuch\": not registered in instance \"$INST\" (azds-init add --pod nosuch --space SPACE makes it)"
r=$(sb client 0 -- true 2>&1)
expect_eq "uid 0 is refused (127)" "$? $(echo "$r" | cut -d: -f1-3)" "127 azds-init: sandbox: --uid"
r=$(sb client $U_CLI --memory 1Mi -- true 2>&1)
expect_eq "a memory limit below 4Mi is refused (127)" "$? $(echo "$r" | cut -d: -f1-3)" "127 azds-init: sandbox: limits"
r=$(sb client $U_CLI 2>&1)
expect_eq "no command: 127" "$? $r" "127 azds-init: sandbox: arguments: a command is required after --"
r=$(sb client $U_CLI --workdir /etc -- true 2>&1)
expect_eq "a root-owned directory is never handed to a pod" "$? $(stat -c %u /etc)" "127 0"
r=$(sb client $U_CLI -- sh -c 'exit 3')
expect_eq "the command's exit status is the sandbox's" "$?" "3"

# --- a graceful stop: azds-init term (azds_podcg_term) -----------------------------
# start_client SCRIPT: client's command as the supervisor starts it; SP is its pid
start_client() {
	rm -f "$(ws client)/ready" "$(ws client)/bye"
	$INIT sandbox --pod client --uid $U_CLI -- sh -c "$1" >"$WORK/stop.log" 2>&1 &
	SP=$!
	for i in $(seq 1 200); do [ -e "$(ws client)/ready" ] && break; sleep 0.05; done
}
# the pod's cgroup empty again (readiness for the next start, bounded)
client_gone() {
	for i in $(seq 1 200); do [ -z "$(cat "$CGV2/azds-$INST/client/cgroup.procs")" ] && return; sleep 0.05; done
}
TRAP='trap "echo bye >/workspace/bye; exit 0" TERM; touch /workspace/ready; while :; do sleep 1; done'
start_client "$TRAP"
kill -TERM $SP
wait $SP
expect_eq "SIGTERM to the supervised bwrap kills the pod at once: 143, no bye (why term exists)" \
	"$? $(cat "$(ws client)/bye" 2>/dev/null || echo none)" "143 none"
client_gone
start_client "$TRAP"
r=$($INIT term --pod client --keep $SP --timeout 10000 2>&1)
rc=$?
# term's 0 means nothing but bwrap is left, and bwrap then exits by itself
[ $rc -eq 0 ] || kill -KILL $SP
wait $SP
expect_eq "term: the command got SIGTERM, wrote bye and exited 0, and so did the pod (bwrap)" \
	"$rc [$r] $? $(cat "$(ws client)/bye" 2>&1)" "0 [] 0 bye"
client_gone
start_client 'trap "" TERM; touch /workspace/ready; while :; do sleep 1; done'
r=$($INIT term --pod client --keep $SP --timeout 200 2>&1)
expect_eq "a command that ignores SIGTERM: term gives up after its timeout (1), the pod still runs" \
	"$? $(kill -0 $SP 2>/dev/null && echo running) $r" \
	"1 running azds-init: term: pod \"client\": processes still running after 200 ms"
kill -KILL $SP
wait $SP 2>/dev/null
client_gone

# --- the pods end with their instance -------------------------------------------------
{
	kill $STARTED
	wait $STARTED
} 2>/dev/null
STARTED=
$INIT del --pod lim || bad "del lim"
gone=yes
for c in memory pids cpu; do [ -e "$(cgdir $c lim)" ] && gone="no: $(cgdir $c lim)"; done
expect_eq "azds-init del removes the pod's limit cgroups" "$gone" "yes"
$CTL stop >/dev/null
gone=yes
for c in memory pids cpu; do [ -e "$(cgdir $c)" ] && gone="no: $(cgdir $c)"; done
expect_eq "azds-controller stop removes the instance's limit cgroups" "$gone" "yes"

finish
