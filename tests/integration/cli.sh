#!/bin/bash
# SPDX-License-Identifier: MIT
# The azds CLI end to end, through the real daemon (azds controller start):
# every space rule with its error, the selection per user, services and
# pods, the controller verbs, --help on every verb, one-line errors with
# exit 2 for usage and 1 for failures, and the not-running hint.
# Assertions read -o json (jq), except where the text is the point (the
# `*` of the selection, the labels of show, the error lines).
INST=${AZDS_TEST_PREFIX:-}cli
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds"
NOBODY=65534

# whatever an earlier, crashed run left: the daemon, the node, the store
purge() {
	"$AZDS" -i "$INST" controller stop --all >/dev/null 2>&1
	"$BIN/azds-controller" -i "$INST" purge >/dev/null 2>&1
}
cleanup() {
	purge
	rm -rf "$WORK"
}
purge

# az ARGS...: azds -i INST ARGS with no terminal; sets RC, OUT and ERR
az() {
	"$AZDS" -i "$INST" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
	RC=$?
	OUT=$(cat "$WORK/out")
	ERR=$(cat "$WORK/err")
}

# as_nobody ARGS...: az as uid 65534, in the socket's group unless NOGROUP=1
as_nobody() {
	local groups="--groups=$(stat -c %g "/run/azds/$INST/api.sock")"

	[ "${NOGROUP:-0}" = 1 ] && groups=--clear-groups
	setpriv --reuid=$NOBODY --regid=$NOBODY $groups "$AZDS" -i "$INST" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
	RC=$?
	OUT=$(cat "$WORK/out")
	ERR=$(cat "$WORK/err")
}

# expect_ok NAME ARGS...: exit 0 and nothing on stderr
expect_ok() {
	local name=$1
	shift
	az "$@"
	if [ "$RC" = 0 ] && [ -z "$ERR" ]; then ok "$name"; else bad "$name: exit $RC, stderr [$ERR]"; fi
}

# expect_error NAME RC NEEDLE ARGS...: exit RC, stdout empty, and exactly one
# line on stderr, "azds: ...", containing NEEDLE
expect_error() {
	local name=$1 rc=$2 needle=$3
	shift 3
	az "$@"
	one_error "$name" "$rc" "$needle"
}

one_error() {
	local lines
	lines=$(printf '%s' "$ERR" | awk 'END { print NR }')
	if [ "$RC" = "$2" ] && [ -z "$OUT" ] && [ "$lines" = 1 ] && [[ "$ERR" == "azds: "*"$3"* ]]; then
		ok "$1"
	else
		bad "$1: expected exit $2 and one line 'azds: ...$3...', got exit $RC, stdout [$OUT], stderr [$ERR]"
	fi
}

# jq over the last command's output
j() { printf '%s' "$OUT" | jq -r "$@"; }

space_exists() { "$AZDS" -i "$INST" space show -n "$1" -o json </dev/null >/dev/null 2>&1; }

# ---- before the controller runs -------------------------------------------

expect_error "not running: the hint names the instance and the start command" 1 \
	"the controller of instance \"$INST\" is not running; start it with: azds -i $INST controller start" space list
expect_eq "not running: the whole message" "$ERR" \
	"azds: the controller of instance \"$INST\" is not running; start it with: azds -i $INST controller start"
az controller status
one_error "not running: controller status says so too" 1 "is not running"
# the default instance's hint has no -i (an instance that surely is not running)
AZDS_INSTANCE= "$AZDS" -i azds space list </dev/null >/dev/null 2>"$WORK/err"
if [ -S /run/azds/azds/api.sock ]; then
	ok "the default instance runs here: its hint is not checked"
else
	expect_contains "the default instance's hint has no -i" "$(cat "$WORK/err")" \
		"start it with: azds controller start"
fi
az controller stop
expect_eq "stop when not running succeeds" "$RC" 0
expect_contains "stop when not running says so" "$OUT" "is not running"
# the node's tools on an instance that is not running: refused, and nothing
# made for it (they took the writer lock, and made its run directory for it)
if [ -e "/run/azds/$INST" ]; then
	bad "not running, yet /run/azds/$INST exists before the node's tools run"
else
	for words in "azds-init del --pod x" "azds-init add --pod x --space dev" "azds-controller set sockmap on" \
		"azds-controller space add dev" "azds-controller service list dev"; do
		set -- $words
		tool=$1
		shift
		"$BIN/$tool" -i "$INST" "$@" </dev/null >/dev/null 2>"$WORK/err"
		rc=$?
		if [ "$rc" != 0 ] && grep -q "is not running" "$WORK/err" && [ ! -e "/run/azds/$INST" ]; then
			ok "$words on an instance that is not running: refused, nothing left behind"
		else
			bad "$words on an instance that is not running: exit $rc, [$(cat "$WORK/err")], $(ls -a "/run/azds/$INST" 2>&1 | tr '\n' ' ')"
			rm -rf "/run/azds/$INST"
		fi
	done
fi

# --help on every verb and group, without a controller
for words in "" "controller" "controller start" "controller stop" "controller status" \
	"controller restart-router" "controller set" "space" "space list" "space select" "space show" "space remove" \
	"pod" "pod run" "pod list" "pod logs" "pod rm" "service" "service list" "service add" "service rm" \
	"list-uris" "events" "up" "down" "list-up" "logs"; do
	# shellcheck disable=SC2086
	az $words --help
	if [ "$RC" = 0 ] && [[ "$OUT" == "usage: azds "* ]] && [ -z "$ERR" ]; then
		ok "azds $words --help: usage on stdout, exit 0"
	else
		bad "azds $words --help: exit $RC, stdout [${OUT:0:80}], stderr [$ERR]"
	fi
done
az space select -h
expect_contains "-h is --help" "$OUT" "-n, --space SPACE"

# usage errors: exit 2, one line naming the word or flag
expect_error "unknown command" 2 'unknown command "spaces"' spaces
expect_error "unknown verb" 2 'space: unknown verb "lis"' space lis
expect_error "verbs match exactly, no prefixes" 2 'unknown verb "sel"' space sel -n dev
expect_error "unknown flag" 2 'space list: unknown flag "--bogus"' space list --bogus
expect_error "unknown short flag" 2 'unknown flag "-x"' pod list -x
expect_error "a flag without its value" 2 "space select: -n needs a value" space select -n
expect_error "a non-numeric value" 2 'pod run: --pids "many": must be a whole number' pod run p --pids many
expect_error "a number out of range" 2 '--port "70000": must be a whole number in 1..65535' \
	service add api -n dev --port 70000
expect_error "a number with a leading space" 2 '--port " 80": must be a whole number in 1..65535' \
	service add api -n dev --port " 80"
expect_error "a number with a sign" 2 '--port "+80": must be a whole number in 1..65535' \
	service add api -n dev --port +80
expect_error "an unknown output format" 2 '-o "yaml": must be one of json|wide' space list -o yaml
expect_error "an unknown restart policy" 2 '--restart "Sometimes"' pod run p --restart Sometimes
expect_error "an argument too many" 2 'space list: unexpected argument "extra"' space list extra
expect_error "a missing NAME" 2 "pod rm: NAME is required" pod rm
expect_error "a command where none is taken" 2 'unexpected argument "x" after "--"' space list -- x
expect_error "select without -n" 2 "space select: -n SPACE is required" space select
expect_error "-n and -A together" 2 "-n and -A exclude each other" pod list -n dev -A
expect_error "--env without =" 2 '--env "FOO": must be NAME=VALUE' pod run p --env FOO
expect_error "a bad instance name" 2 'instance "Bad!"' -i 'Bad!' space list
"$AZDS" </dev/null >/dev/null 2>&1
expect_eq "no command at all is a usage error" "$?" 2

# ---- controller start ----------------------------------------------------

# a controller that refuses its settings exits at once: start says why, in one line
az controller start --group Bad
one_error "start: a controller that exits before it is ready" 1 "azds-controller exited before it was ready"
expect_contains "start: the error has the controller's last line" "$ERR" '--group "Bad"'
expect_contains "start: the error names the log" "$ERR" "(log: /run/azds/$INST/controller.log)"
expect_error "start: the CLI checks --max-depth's bounds" 2 '--max-depth "3": must be a whole number in 8..16' \
	controller start --max-depth 3
expect_ok "controller start" controller start
expect_contains "start says it runs" "$OUT" "The controller of instance $INST is running (pid "
ctl_pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$OUT")
if [ -n "$ctl_pid" ] && kill -0 "$ctl_pid" 2>/dev/null; then
	ok "the controller's pid is alive"
else
	bad "the controller's pid [$ctl_pid] is not alive"
fi
# double fork and setsid: another session than ours, no terminal, parent not us
if [ "$(ps -o sid= -p "$ctl_pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ] &&
	[ "$(ps -o tty= -p "$ctl_pid" | tr -d ' ')" = "?" ] && [ "$(ps -o ppid= -p "$ctl_pid" | tr -d ' ')" != $$ ]; then
	ok "the controller is detached (its own session, no terminal)"
else
	bad "the controller is not detached: $(ps -o pid,ppid,sid,tty -p "$ctl_pid" | tail -1)"
fi
expect_eq "the API socket exists" "$(stat -c %F "/run/azds/$INST/api.sock" 2>&1)" socket
expect_eq "the API socket is mode 0660" "$(stat -c %a "/run/azds/$INST/api.sock")" 660
[ -f "/run/azds/$INST/controller.log" ]
expect_eq "its log is /run/azds/INST/controller.log" "$?" 0
expect_ok "start again" controller start
expect_contains "start again: already running, same pid" "$OUT" "already running (pid $ctl_pid)"

az controller status -o json
expect_eq "status -o json: the instance" "$(j .instance)" "$INST"
expect_eq "status -o json: a fresh instance counts one space" "$(j .counts.spaces)" 1
router_pid=$(j .router.pid)
expect_ok "status as a table" controller status
expect_contains "status table: the router's row" "$OUT" "router"
expect_contains "status table: the switches" "$OUT" "kernel-lb"
expect_ok "controller set events off" controller set events off
az controller status -o json
expect_eq "the switch is off in status" "$(j .switches.events)" false
expect_ok "controller set events on" controller set events on
az controller status -o json
expect_eq "the switch is on again" "$(j .switches.events)" true
expect_error "an unknown switch" 1 'no switch "nope"' controller set nope on
expect_error "a switch is on or off" 2 '"maybe": must be on or off' controller set events maybe

# ---- spaces ----------------------------------------------------------------

az space list -o json
expect_eq "a fresh instance has the default space only" "$(j '[.items[].name] | join(",")')" default
expect_eq "default is selected when nothing was" "$(j '.items[] | select(.selected) | .name')" default
expect_error "default cannot be removed" 1 'space "default" always exists and cannot be removed' \
	space remove -n default -y
expect_error "azds is reserved" 1 'the name "azds" is reserved' space select -n azds -y
expect_error "azds is reserved below the root too" 1 'the name "azds" is reserved' space select -n default/azds -y
l63=$(printf 'a%.0s' $(seq 1 63))
expect_ok "a 63-character name is a DNS label" space select -n "$l63" -y
expect_contains "it was created and selected" "$OUT" "Created space $l63 and selected it."
expect_error "a 64-character name is refused" 1 "must be 1-63 characters" space select -n "${l63}b" -y
space_exists "${l63}b"
expect_eq "the 64-character space does not exist" "$?" 1
expect_error "uppercase is refused" 1 'space "Dev": each level must be 1-63 characters of a-z, 0-9' \
	space select -n Dev -y
expect_error "a trailing '-' is refused" 1 'space "dev-"' space select -n dev- -y
expect_error "... and the rule says so" 1 "not starting or ending with '-'" space select -n dev- -y
expect_error "a path over 255 characters: the rule survives the long name" 1 \
	"...\": path must be 1-255 characters (this one has 257)" space select -n "$l63/$l63/$l63/$l63/b" -y
az space select -n $'x\e]0;pwn\a' -y
expect_eq "a name with terminal controls: none reaches the terminal" "$(printf '%s' "$ERR" | tr -d '[:print:]' | wc -c)" 0
expect_contains "... shown as ?" "$ERR" 'space "x?]0;pwn?"'
expect_error "an underscore is refused" 1 'space "dev_x"' space select -n dev_x -y
expect_error "an empty level is refused" 1 'space "dev//x"' space select -n dev//x -y
expect_error "the parent must exist" 1 'space "nope/child": parent "nope" does not exist' \
	space select -n nope/child -y
space_exists nope
expect_eq "a refused child does not create its parent" "$?" 1

# nesting to 8 (the default maximum), one select per level; the 9th is refused
p=""
for l in l1 l2 l3 l4 l5 l6 l7 l8; do
	p=${p:+$p/}$l
	az space select -n "$p" -y
	[ "$RC" = 0 ] || break
done
expect_eq "spaces nest to 8 levels" "$RC $p" "0 l1/l2/l3/l4/l5/l6/l7/l8"
az space show -n "$p" -o json
expect_eq "the 8th level's depth" "$(j .depth)" 8
expect_error "a 9th level is refused" 1 "levels deep; the limit is 8" space select -n "$p/l9" -y

# a missing space without -y and without a terminal: not created, told to pass -y
expect_error "select of a missing space without a terminal needs -y" 1 "-y" space select -n dev
space_exists dev
expect_eq "nothing was created without -y" "$?" 1
# on a terminal it asks: "n" creates nothing, "y" creates it
printf 'n\n' | script -qec "$AZDS -i $INST space select -n dev" /dev/null >"$WORK/tty" 2>&1
expect_contains "on a terminal it asks" "$(cat "$WORK/tty")" "Space dev does not exist. Create it? [y/N]"
space_exists dev
expect_eq "answering n creates nothing" "$?" 1
printf 'y\n' | script -qec "$AZDS -i $INST space select -n dev" /dev/null >"$WORK/tty" 2>&1
expect_contains "answering y creates and selects" "$(cat "$WORK/tty")" "Created space dev and selected it."
printf 'y\n' | script -qec "$AZDS -i $INST space select -n dev/alice" /dev/null >"$WORK/tty" 2>&1
expect_contains "the question names the parent" "$(cat "$WORK/tty")" \
	"Space dev/alice does not exist. Create it under dev? [y/N]"
expect_ok "select an existing space without -y" space select -n dev
expect_eq "select an existing space says so" "$OUT" "Selected space dev."
expect_ok "create dev/alice/x" space select -n dev/alice/x -y
expect_ok "create dev/bob" space select -n dev/bob -y

# labels, in show's text and JSON
expect_ok "show dev/alice" space show -n dev/alice
expect_contains "show: azds.io/space=true" "$OUT" "azds.io/space=true"
expect_contains "show: azds.io/parent-space=dev" "$OUT" "azds.io/parent-space=dev"
az space show -n dev/alice -o json
expect_eq "show -o json: the labels" "$(j '.labels["azds.io/space"] + " " + .labels["azds.io/parent-space"]')" \
	"true dev"
expect_eq "show -o json: the parent" "$(j .parent)" dev
az space show -n dev -o json
expect_eq "a root space's parent-space label is empty" "$(j '.labels["azds.io/parent-space"]')" ""
expect_error "show of a missing space" 1 'space "ghost" does not exist' space show -n ghost
az space show -o json
expect_eq "show without -n: the selected space" "$(j .name)" dev/bob

# the selection: `*` in the list, per user
az space list
expect_eq "the * marks the selected space, alone" "$(grep -c '^\*' <<<"$OUT") $(awk '$1 == "*" { print $2 }' <<<"$OUT")" \
	"1 dev/bob"
az space list -o json
expect_eq "-o json: only the selected space has selected=true" "$(j '[.items[] | select(.selected) | .name] | join(",")')" \
	dev/bob
expect_eq "list: parents before children" \
	"$(j '[.items[].name] | index("dev") < index("dev/alice") and index("dev/alice") < index("dev/alice/x")')" true
as_nobody space list -o json
if [ "$RC" = 0 ]; then
	expect_eq "another user has its own selection (default)" "$(j '.items[] | select(.selected) | .name')" default
	as_nobody space select -n dev/alice
	expect_eq "another user selects dev/alice" "$RC $OUT" "0 Selected space dev/alice."
	as_nobody space show -o json
	expect_eq "... and sees it as selected" "$(j .name)" dev/alice
	az space list -o json
	expect_eq "root's selection is unchanged by it" "$(j '.items[] | select(.selected) | .name')" dev/bob
else
	bad "uid $NOBODY in the socket's group could not list spaces: $ERR"
fi
NOGROUP=1 as_nobody space list
one_error "a user outside the socket's group is told why" 1 "permission denied"

# remove: children refused without --recursive; --recursive takes that subtree only
expect_ok "a service in dev" service add api -n dev --port 80 --target-port 8080
expect_ok "a service in dev/alice" service add api -n dev/alice --port 80 --target-port 8080
expect_ok "a service in dev/alice/x" service add web -n dev/alice/x --port 80
expect_ok "a bare pod in dev" pod run keep-dev -n dev
expect_ok "a bare pod in dev/alice/x" pod run gone-x -n dev/alice/x
expect_error "remove refuses a space with children" 1 'space "dev/alice" has 1 space under it (dev/alice/x)' \
	space remove -n dev/alice -y
space_exists dev/alice/x
expect_eq "the refused remove removed nothing" "$?" 0
# a grandchild counts too, and the message says they are under it, not children
expect_ok "create dev/alice/x/y" space select -n dev/alice/x/y -y
expect_error "remove counts every space under it" 1 \
	'space "dev/alice" has 2 spaces under it (dev/alice/x and 1 more); remove them first' space remove -n dev/alice -y
# without a terminal to ask on, remove needs -y (a script's mistake must not remove a subtree)
expect_error "remove without -y and no terminal is refused" 1 \
	'no terminal to confirm on: pass -y to remove space dev/alice' space remove -n dev/alice --recursive
space_exists dev/alice/x/y
expect_eq "the unconfirmed remove removed nothing" "$?" 0
expect_ok "remove --recursive" space remove -n dev/alice --recursive -y
expect_eq "remove --recursive lists what it removed, deepest first" "$OUT" \
	"Removed space dev/alice/x/y.
Removed space dev/alice/x.
Removed space dev/alice."
az space list -o json
expect_eq "only that subtree is gone" "$(j '[.items[].name | select(startswith("dev"))] | join(",")')" "dev,dev/bob"
az service list -A -o json
expect_eq "its services are gone, dev's stays" "$(j '[.items[] | .space + ":" + .name] | join(",")')" "dev:api"
az pod list -A -o json
expect_eq "its pods are gone, dev's stays" "$(j '[.items[].name] | join(",")')" keep-dev
as_nobody space show -o json
expect_eq "a user whose selected space was removed is back on default" "$(j .name)" default
expect_error "remove of a missing space" 1 'space "dev/alice" does not exist' space remove -n dev/alice -y
expect_error "remove without -n" 2 "-n SPACE is required" space remove -y
# a leaf without children goes without --recursive
expect_ok "remove a leaf" space remove -n dev/bob -y
expect_eq "remove a leaf says so" "$OUT" "Removed space dev/bob."

# ---- services --------------------------------------------------------------

expect_ok "service add, tcp" service add echo -n dev --kind tcp --port 7000 --target-port 7001
expect_contains "service add prints its address" "$OUT" "Service echo in dev: tcp 10.96."
az service list -n dev -o json
expect_eq "service list -n dev -o json" "$(j '[.items[] | .name + ":" + .kind + ":" + (.port|tostring) + ":" + (.target_port|tostring)] | sort | join(",")')" \
	"api:http:80:8080,echo:tcp:7000:7001"
az service list -n dev
expect_eq "service list: the header" "$(head -1 <<<"$OUT" | tr -s ' ')" "SPACE NAME KIND ADDRESS PORT TARGET ENDPOINTS"
expect_ok "select default" space select -n default
az service list -o json
expect_eq "service list without -n: the selected space (default, none)" "$(j '.items | length')" 0
expect_error "service in a missing space" 1 'ghost' service add api -n ghost
expect_error "a service name that is no DNS label" 1 'Api' service add Api -n dev
expect_ok "service rm" service rm echo -n dev
expect_error "service rm of a missing service" 1 'echo' service rm echo -n dev

# ---- pods ------------------------------------------------------------------

expect_ok "pod run with a command" pod run hello -n dev --restart Never -- /bin/sh -c 'echo hello from the pod; echo line two'
for i in $(seq 1 100); do
	az pod list -n dev -o json
	phase=$(j '.items[] | select(.name == "hello") | .status.phase')
	[ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
	sleep 0.1
done
expect_eq "the pod ran to its end" "$phase" Succeeded
expect_eq "its exit code" "$(j '.items[] | select(.name == "hello") | .status.last_exit_code')" 0
# the supervisor's own lines about the process ("azds-shim: ...") may be
# in the log beside the pod's; what the pod wrote must be there, whole
pod_lines() { grep -v '^azds-shim: '; }
expect_ok "pod logs" pod logs hello
expect_eq "pod logs: what it wrote" "$(pod_lines <<<"$OUT")" "hello from the pod
line two"
timeout 60 "$AZDS" -i "$INST" pod logs hello -f </dev/null >"$WORK/follow" 2>&1
expect_eq "pod logs -f of an ended pod ends by itself" "$? $(pod_lines <"$WORK/follow")" "0 hello from the pod
line two"
expect_eq "pod logs -f printed the same as pod logs" "$(cat "$WORK/follow")" "$OUT"
az pod list -n dev
expect_eq "pod list: the header" "$(head -1 <<<"$OUT" | tr -s ' ')" "NAME SPACE ADDRESS PHASE RESTARTS EXIT AGE"
expect_ok "a pod that keeps writing" pod run ticker -n dev -- /bin/sh -c 'while :; do echo tick; sleep 0.2; done'
"$AZDS" -i "$INST" pod logs ticker -f </dev/null >"$WORK/ticks" 2>"$WORK/ticks.err" &
follower=$!
for i in $(seq 1 100); do [ "$(grep -c tick "$WORK/ticks")" -ge 3 ] && break; sleep 0.1; done
kill -INT "$follower"
wait "$follower"
expect_eq "pod logs -f ends cleanly on Ctrl-C" "$? $(cat "$WORK/ticks.err")" "0 "
expect_eq "pod logs -f followed the output" "$(pod_lines <"$WORK/ticks" | sort -u)" tick
expect_error "pod run in a missing space" 1 'ghost' pod run p1 -n ghost
expect_error "a duplicate pod name" 1 'keep-dev' pod run keep-dev -n dev
expect_error "pod rm -n checks the pod's space" 1 'pod "ticker" is in space "dev", not "default"' \
	pod rm ticker -n default
expect_ok "pod rm" pod rm ticker -n dev
expect_eq "pod rm says so" "$OUT" "Removed pod ticker."
expect_error "pod rm of a missing pod" 1 'pod "ticker"' pod rm ticker
expect_error "pod logs of a missing pod" 1 'pod "ticker"' pod logs ticker
# a pod's directory goes without holding the daemon: renamed into the
# store's trash at once, removed there by a thread of the daemon's own
expect_ok "a pod that leaves many files" pod run litter -n dev --restart Never -- \
	/bin/sh -c 'mkdir -p /workspace/l && cd /workspace/l && seq 1 5000 | xargs touch && echo littered'
for i in $(seq 1 200); do "$AZDS" -i "$INST" pod logs litter 2>/dev/null | grep -q littered && break; sleep 0.1; done
expect_ok "pod rm of it" pod rm litter
[ -e "/var/lib/azds/$INST/pods/litter" ]
expect_eq "... its directory is gone from pods/ at once" "$?" 1
[ -d "/var/lib/azds/$INST/trash" ]
expect_eq "... moved to the store's trash, not removed in place" "$?" 0
expect_ok "... and the name is free at once" pod run litter -n dev --restart Never -- /bin/true
expect_ok "... (removed again)" pod rm litter
for i in $(seq 1 300); do [ -z "$(ls -A "/var/lib/azds/$INST/trash" 2>/dev/null)" ] && break; sleep 0.1; done
expect_eq "... and the trash is emptied" "$(ls -A "/var/lib/azds/$INST/trash" 2>/dev/null)" ""

# ---- the router, stop and start again --------------------------------------

expect_ok "controller restart-router" controller restart-router
new_pid=$(sed -n 's/^Router restarted: pid \([0-9]*\) -> \([0-9]*\)\.$/\2/p' <<<"$OUT")
old_pid=$(sed -n 's/^Router restarted: pid \([0-9]*\) -> \([0-9]*\)\.$/\1/p' <<<"$OUT")
expect_eq "restart-router prints the old pid (the one status showed)" "$old_pid" "$router_pid"
if [ -n "$new_pid" ] && [ "$new_pid" != "$old_pid" ]; then ok "a new router pid"; else bad "new router pid [$new_pid] after [$old_pid]"; fi
az controller status -o json
expect_eq "status shows the new router" "$(j .router.pid)" "$new_pid"

expect_ok "controller stop" controller stop
expect_eq "stop says so" "$OUT" "The controller of instance $INST stopped."
# gone, or a zombie its new parent has not reaped yet: it no longer runs
expect_eq "the controller exited" "$(ps -o stat= -p "$ctl_pid" | grep -v '^Z')" ""
[ -e "/run/azds/$INST/api.sock" ]
expect_eq "its socket is gone" "$?" 1
expect_error "after stop: the hint again" 1 "is not running; start it with: azds -i $INST controller start" space list
expect_ok "start after stop" controller start
ctl_pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$OUT")
az space list -o json
expect_eq "the spaces survived" "$(j '[.items[].name | select(startswith("dev"))] | join(",")')" dev
expect_eq "the selection survived" "$(j '.items[] | select(.selected) | .name')" default
# limits the node cannot take are refused before anything is stored
expect_ok "controller stop, for the limits" controller stop
expect_error "--max-spaces below what the store holds: refused" 1 \
	"--max-spaces 1: the store holds" controller start --max-spaces 1
expect_error "--max-pods other than the pinned node's: refused, with the way out" 1 \
	"purge --keep-state (the node goes, the store stays), then start again with --max-pods 3" \
	controller start --max-pods 3
expect_ok "a plain start after both" controller start
ctl_pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$OUT")
az controller status -o json
expect_eq "... with the limits as they were" "$(j '.limits.spaces, .limits.pods' | tr '\n' ' ')" "4096 1024 "
expect_error "list-uris of a space that does not exist" 1 'space "nope" does not exist' list-uris -n nope
expect_error "logs of a service that is not up names the service, not a pod" 1 \
	'no service "nosuch" is up in default (azds up starts it)' logs nosuch -n default
az space list -o json
expect_eq "... and the spaces" "$(j '[.items[].name | select(startswith("dev"))] | join(",")')" dev
expect_ok "controller stop --all" controller stop --all
expect_contains "stop --all says so" "$OUT" "stopped, with its router, DNS and pods"
expect_eq "stop --all: the controller exited" "$(ps -o stat= -p "$ctl_pid" | grep -v '^Z')" ""
# every process of the instance (daemon, shims, DNS, router, pods) lives in its cgroup tree
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
expect_eq "stop --all: no process of the instance is left" \
	"$(cat $(find "$cgroot/azds-$INST" -name cgroup.procs 2>/dev/null) /dev/null 2>/dev/null)" ""
expect_eq "stop --all: nor a daemon or shim outside it" \
	"$(pgrep -f -- "azds-controller -i $INST run|/run/azds/$INST/")" ""

finish
