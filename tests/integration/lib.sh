# SPDX-License-Identifier: MIT
# Shared helpers of the integration tests: a fresh azds instance with the
# two-space topology, pods running podserver, and content assertions.
# Every test owns its instance name; it removes leftovers of a crashed
# earlier run first and everything it made on exit.

set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR}
BIN=$(cd "$BIN" && pwd)
CTL="$BIN/azds-controller -i $INST"
INIT="$BIN/azds-init -i $INST"
PASS=0
FAIL=0
# one fixed work directory per test: a crashed earlier run's is replaced
WORK=/tmp/azds-test-$INST
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1

cleanup() {
	$CTL stop >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
	case "$2" in
	*"$3"*) ok "$1" ;;
	*) bad "$1: expected to contain [$3], got [$2]" ;;
	esac
}

expect_not_contains() {
	case "$2" in
	*"$3"*) bad "$1: must not contain [$3], got [$2]" ;;
	*) ok "$1" ;;
	esac
}

expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$3], got [$2]"; fi
}

# in_pod POD CMD...: run a command inside a pod (netns, cgroup, resolv.conf)
in_pod() {
	local pod=$1
	shift
	$INIT exec --pod "$pod" -- "$@"
}

probe() {
	local pod=$1
	shift
	in_pod "$pod" "$BIN/azds-probe" "$@" 2>&1
}

# start_server POD SPACE SERVICE [podserver args...]
start_server() {
	local pod=$1 space=$2 svc=$3
	shift 3
	$INIT exec --pod "$pod" -- "$BIN/podserver" --pod "$pod" --space "$space" --service "$svc" "$@" \
		>>"$WORK/$pod.log" 2>&1 &
	disown
}

# wait_ready POD ADDR:PORT http|tcp: until the server answers (bounded retries;
# readiness only, never a pass/fail on time)
wait_ready() {
	local i
	for i in $(seq 1 200); do
		if [ "$3" = tcp ]; then
			in_pod "$1" "$BIN/azds-probe" tcp "$2" --bytes 1 --timeout 2 >/dev/null 2>&1 && return 0
		else
			in_pod "$1" "$BIN/azds-probe" get "$2" / --timeout 2 >/dev/null 2>&1 && return 0
		fi
		sleep 0.05
	done
	echo "server at $2 never became ready" >&2
	return 1
}

pod_addr() {
	$CTL pod list | awk -v p="$1" '$1 == p { print $2 }'
}

# a free port on loopback (an ingress of the test's own: another instance may hold the default)
free_port() {
	local p
	for p in $(shuf -i 20000-45000 -n 50); do
		[ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return 0; }
	done
	return 1
}

# daemon_up: a fresh instance under the controller daemon (after the test's
# own cleanup of a crashed earlier run), its ingress on a free port ($IPORT)
daemon_up() {
	cleanup
	mkdir -p "$WORK"
	IPORT=$(free_port) || { echo "no free port"; exit 1; }
	# shellcheck disable=SC2086 # DAEMON_ARGS: more words for controller start
	"$BIN/azds" -i "$INST" controller start --ingress-port "$IPORT" ${DAEMON_ARGS:-} >"$WORK/start.log" 2>&1 ||
		{ cat "$WORK/start.log"; exit 1; }
}

# topology: dev {web, api, echo(tcp)}, dev/alice {api, echo(tcp)}, dev/alice/x {}
setup_topology() {
	$CTL stop >/dev/null 2>&1 # leftovers of a crashed run
	$CTL start >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
	$CTL space add dev && $CTL space add dev/alice && $CTL space add dev/alice/x || exit 1
	$CTL service add dev web --port 80 --target-port 8080 || exit 1
	$CTL service add dev api --port 80 --target-port 8080 || exit 1
	$CTL service add dev/alice api --port 80 --target-port 8080 || exit 1
	$CTL service add dev echo --kind tcp --port 7000 --target-port 7000 || exit 1
	$CTL service add dev/alice echo --kind tcp --port 7000 --target-port 7000 || exit 1
	$INIT add --pod web --space dev --service web >/dev/null || exit 1
	$INIT add --pod api-dev --space dev --service api >/dev/null || exit 1
	$INIT add --pod api-alice --space dev/alice --service api >/dev/null || exit 1
	$INIT add --pod echo-dev --space dev --service echo >/dev/null || exit 1
	$INIT add --pod echo-alice --space dev/alice --service echo >/dev/null || exit 1
	$INIT add --pod client-x --space dev/alice/x >/dev/null || exit 1
	start_server web dev web --listen 0.0.0.0:8080
	start_server api-dev dev api --listen 0.0.0.0:8080
	start_server api-alice dev/alice api --listen 0.0.0.0:8080
	start_server echo-dev dev echo --listen 0.0.0.0:7000 --tcp
	start_server echo-alice dev/alice echo --listen 0.0.0.0:7000 --tcp
	wait_ready client-x "$(pod_addr web):8080" http &&
		wait_ready client-x "$(pod_addr api-dev):8080" http &&
		wait_ready client-x "$(pod_addr api-alice):8080" http &&
		wait_ready client-x "$(pod_addr echo-dev):7000" tcp &&
		wait_ready client-x "$(pod_addr echo-alice):7000" tcp || exit 1
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}

# wait_line FILE REGEX PID: until a line of FILE matches REGEX or PID is gone
# (readiness only, bounded at 30 s: the caller checks what the file says)
wait_line() {
	local i
	for i in $(seq 1 600); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# vip NAME: the service's virtual ADDR:PORT
vip() {
	"$BIN/azds" -i "$INST" list-uris --addresses | awk -v n="$1" '$1 == n { sub(".*://", "", $2); print $2 }'
}

# stop_router: end the instance's router (its pid file's process) and wait,
# bounded, until it is gone; the pinned state and the pods stay
stop_router() {
	local p i
	p=$(cat "/run/azds/$INST/router.pid" 2>/dev/null) || return 0
	kill "$p" 2>/dev/null
	for i in $(seq 1 500); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.02
	done
}

# counter NAME: a data-plane counter from 'azds-controller status'
counter() {
	$CTL status | awk -v n="$1" '$1 == n { print $2 }'
}
