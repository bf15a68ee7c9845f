#!/bin/bash
# SPDX-License-Identifier: MIT
# The file sync of `azds up`, end to end through the real daemon's API
# (azds workspace sync, then curl as a hostile client): the first sync sends
# every file; a second sends none; one edit sends one; a delete deletes; a
# restart of the controller (and a new CLI process) still sends none; ignored
# files never reach the workspace, whose bytes, links and modes equal the
# source's; crafted batches (../x, absolute paths, bad hashes, oversize,
# truncated deflate, links out, writes through links) are refused with a 4xx
# and write nothing outside; another uid cannot touch someone's workspace.
# Counts are read from -o json (jq); nothing depends on timing.
INST="${AZDS_TEST_PREFIX:-}sync"
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds -i $INST"
SOCK=/run/azds/$INST/api.sock
STATE=/var/lib/azds/$INST
NOBODY=65534
SRC=$WORK/src
OUTSIDE=/tmp/azds-test-$INST-outside

cleanup() {
	$AZDS controller stop --all >/dev/null 2>&1
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK" "$OUTSIDE"
}
trap cleanup EXIT
cleanup # a crashed earlier run's instance
mkdir -p "$WORK" "$OUTSIDE"

start_ctl() {
	$AZDS controller start --no-router >"$WORK/start.log" 2>&1 ||
		{ cat "$WORK/start.log" "/run/azds/$INST/controller.log" 2>/dev/null; exit 1; }
}

api() { # api METHOD PATH [BODY]: prints "BODY STATUS"
	local m=$1 p=$2
	shift 2
	curl -s --max-time 20 --unix-socket "$SOCK" -X "$m" -w ' %{http_code}' ${1:+--data-binary "$1"} "http://azds$p"
}
status_of() { echo "${1##* }"; }

# sync [ARGS...]: azds workspace sync of $SRC into "app" in dev; J holds the figures
sync() {
	$AZDS workspace sync "$SRC" --name app -n dev -o json "$@" >"$WORK/out.json" 2>"$WORK/err"
	RC=$?
	ERR=$(cat "$WORK/err")
}
j() { jq -r "$1" "$WORK/out.json"; }

# the expected workspace: the source without what the rules leave out
mk_expect() {
	rm -rf "$WORK/expect"
	cp -a "$SRC" "$WORK/expect"
	rm -rf "$WORK/expect/x.log" "$WORK/expect/build" "$WORK/expect/node_modules" "$WORK/expect/badlink" \
		"$WORK/expect/src/debug.log" "$WORK/expect/fifo"
	find "$WORK/expect" -depth -type d -empty -delete
}
same_tree() { # same_tree NAME: the workspace's bytes, links and modes equal the expected set's
	mk_expect
	if diff -r --no-dereference "$WORK/expect" "$TREE" >"$WORK/diff" 2>&1; then
		ok "$1"
	else
		bad "$1: $(head -5 "$WORK/diff")"
	fi
}

# mk.py: a crafted batch as JSON (the hostile client's tool)
cat >"$WORK/mk.py" <<'EOF'
import argparse, base64, hashlib, json, zlib
a = argparse.ArgumentParser()
a.add_argument("--path", required=True)
a.add_argument("--content", default="hello\n")
a.add_argument("--size", type=int)
a.add_argument("--sha")
a.add_argument("--truncate", action="store_true")
a.add_argument("--target")
a.add_argument("--pad", type=int, default=0)
o = a.parse_args()
raw = o.content.encode() + b"x" * o.pad
z = zlib.compress(raw)
if o.truncate:
    z = z[: len(z) // 2]
if o.target:
    f = {"path": o.path, "type": "link", "target": o.target}
else:
    f = {"path": o.path, "mode": "0644", "size": o.size if o.size is not None else len(raw),
         "sha256": o.sha or hashlib.sha256(raw).hexdigest(), "mtime": 0,
         "data": base64.b64encode(z).decode()}
print(json.dumps({"files": [f]}))
EOF
craft() { python3 "$WORK/mk.py" "$@"; }

start_ctl
$AZDS space select -n dev -y >/dev/null || { bad "space dev"; exit 1; }

# ---- the source folder
mkdir -p "$SRC/src/lib" "$SRC/static" "$SRC/node_modules/pkg" "$SRC/build" "$SRC/deep/a/b/c"
printf 'int main(void) { return 0; }\n' >"$SRC/src/main.c"
printf 'int util(void) { return 1; }\n' >"$SRC/src/lib/util.c"
printf '<html>hi</html>\n' >"$SRC/static/index.html"
printf '#!/bin/sh\necho run\n' >"$SRC/run.sh"
chmod 0755 "$SRC/run.sh"
printf '# app\n' >"$SRC/README.md"
printf 'build/\n*.log\n' >"$SRC/.gitignore"
printf 'node_modules\n' >"$SRC/.dockerignore"
printf 'log\n' >"$SRC/x.log"
printf 'log\n' >"$SRC/src/debug.log"
printf 'obj\n' >"$SRC/build/out.o"
printf 'module.exports = 1\n' >"$SRC/node_modules/pkg/i.js"
printf 'spaces\n' >"$SRC/with space.txt"
printf 'unicode\n' >"$SRC/café.txt"
: >"$SRC/empty"
printf 'deep\n' >"$SRC/deep/a/b/c/d.txt"
head -c 1572864 /dev/urandom >"$SRC/big.bin" # 1.5 MiB: sent in parts
ln -s src/main.c "$SRC/link"
ln -s /etc/passwd "$SRC/badlink"
mkfifo "$SRC/fifo"
# included: .dockerignore .gitignore README.md big.bin café.txt deep/a/b/c/d.txt empty link
# run.sh src/lib/util.c src/main.c static/index.html "with space.txt"
WANT=13

# ---- the first sync sends everything the rules let through
sync
expect_eq "first sync succeeds" "$RC" 0
expect_eq "first sync: every file of the set scanned" "$(j .scanned)" "$WANT"
expect_eq "first sync: every one sent" "$(j .sent)" "$WANT"
expect_eq "first sync: the workspace holds them" "$(j .files)" "$WANT"
expect_contains "a link leading out is skipped with a warning" "$ERR" "badlink -> /etc/passwd"
TREE=$(ls -d "$STATE"/workspaces/*/app/tree 2>/dev/null | head -1)
[ -d "$TREE" ] || { bad "the workspace's tree under $STATE/workspaces"; finish; exit 1; }
same_tree "the workspace equals the source's included set (bytes, links)"
for f in x.log src/debug.log build node_modules badlink fifo; do
	[ -e "$TREE/$f" ] || [ -L "$TREE/$f" ] && bad "ignored $f is in the workspace" || ok "ignored $f never reaches the workspace"
done
expect_eq "the executable bit is kept" "$(stat -c %a "$TREE/run.sh")" 755
expect_eq "other files are 0644" "$(stat -c %a "$TREE/src/main.c")" 644
expect_eq "a link stays a link" "$(readlink "$TREE/link")" "src/main.c"
expect_eq "files belong to the workspace's owner (root here)" "$(stat -c %u "$TREE/src/main.c")" 0

# ---- nothing changed: nothing goes
sync
expect_eq "second sync: 0 sent" "$(j .sent)" 0
expect_eq "second sync: 0 deleted" "$(j .deleted)" 0

# ---- one edit: exactly one file goes
printf 'int main(void) { return 2; }\n' >>"$SRC/src/main.c"
sync
expect_eq "one file edited: exactly 1 sent" "$(j .sent)" 1
expect_eq "... and its bytes are the workspace's" "$(cmp "$SRC/src/main.c" "$TREE/src/main.c" && echo same)" same
# the same size, other bytes
printf 'XY' | dd of="$SRC/README.md" bs=1 seek=2 conv=notrunc status=none
sync
expect_eq "an edit keeping the size: exactly 1 sent" "$(j .sent)" 1
same_tree "after the edits the workspace equals the source"

# ---- deletes, renames, modes, a file that becomes a directory
rm "$SRC/src/lib/util.c"
sync
expect_eq "one file deleted: 1 deleted in the workspace" "$(j .deleted)" 1
expect_eq "... and 0 sent" "$(j .sent)" 0
[ -e "$TREE/src/lib/util.c" ] && bad "the deleted file is still in the workspace" || ok "the deleted file is gone from the workspace"
[ -d "$TREE/src/lib" ] && bad "its emptied directory is still there" || ok "its emptied directory went with it"
mv "$SRC/deep/a/b/c/d.txt" "$SRC/deep/moved.txt"
sync
expect_eq "a rename: 0 sent (the workspace has the bytes)" "$(j .sent)" 0
expect_eq "a rename: 1 copied there" "$(j .copied)" 1
expect_eq "a rename: 1 deleted" "$(j .deleted)" 1
cp "$SRC/src/main.c" "$SRC/dup.c"
sync
expect_eq "a copy of a file: 0 sent, 1 copied there" "$(j .sent) $(j .copied)" "0 1"
expect_eq "... with the same bytes" "$(cmp "$SRC/dup.c" "$TREE/dup.c" && echo same)" same
chmod +x "$SRC/src/main.c"
sync
expect_eq "chmod +x: no content sent" "$(j .sent)" 0
expect_eq "chmod +x: the mode is updated" "$(stat -c %a "$TREE/src/main.c")" 755
rm "$SRC/static/index.html"
mkdir "$SRC/static/index.html"
printf 'now a directory\n' >"$SRC/static/index.html/x"
sync
expect_eq "a file that became a directory syncs" "$RC" 0
same_tree "after deletes, a rename, a chmod and a file made a directory, the workspace equals the source"

# ---- a watcher's paths (--only): each sent, or deleted when gone or left out
printf 'watched\n' >>"$SRC/static/index.html/x"
rm "$SRC/dup.c"
sync --only static/index.html/x --only dup.c --only x.log
expect_eq "--only: the edited path sent (1)" "$(j .sent)" 1
expect_eq "--only: the removed path deleted (1)" "$(j .deleted)" 1
[ -e "$TREE/x.log" ] && bad "--only: an ignored path was sent" || ok "--only: an ignored path is not sent"
same_tree "after --only the workspace equals the source"

# ---- a watcher's burst with a name no workspace may hold: that one skipped
# with a warning, the rest sent (the whole burst was dropped before)
printf 'burst\n' >"$SRC/burst.txt" && printf 'bad\n' >"$SRC/bad$(printf '\377').txt"
sync --only burst.txt --only "bad$(printf '\377').txt"
expect_eq "a burst with a name that is not UTF-8: exit 0" "$RC" 0
expect_eq "... the other path is sent" "$(j .sent)" 1
expect_contains "... the bad one is skipped with a warning" "$ERR" "warning:"
rm -f "$SRC/bad$(printf '\377').txt"
# a watcher's path that is a link out of the folder: skipped with the full sync's warning (it was silent)
ln -s /etc/passwd "$SRC/pw.html"
sync --only pw.html
expect_contains "a watched link out of the folder: skipped with a warning" "$ERR" "pw.html -> /etc/passwd: the link leads out of the folder"
rm -f "$SRC/pw.html"

# ---- a directory swapped for a link out of the folder: a watcher's path
# under it is not followed out (the last component's O_NOFOLLOW alone let
# conf -> /etc ship conf/shadow, /etc/shadow's bytes, into the workspace)
mkdir -p "$SRC/conf" && printf 'bait\n' >"$SRC/conf/secret"
sync --only conf/secret
expect_eq "a new file under conf/ is sent" "$(j .sent)" 1
printf 'TOP SECRET outside the folder\n' >"$OUTSIDE/secret"
rm -rf "$SRC/conf" && ln -s "$OUTSIDE" "$SRC/conf"
sync --only conf/secret
expect_eq "conf swapped for a link out: conf/secret is not sent" "$(j .sent)" 0
expect_eq "... it is deleted from the workspace, as a path no longer in the folder" "$(j .deleted)" 1
expect_eq "... and no outside byte reached the workspace" "$(cat "$TREE/conf/secret" 2>/dev/null)" ""
rm -f "$SRC/conf" "$OUTSIDE/secret"
sync
same_tree "after the swapped directory, the workspace equals the source"

# ---- a restart of the controller, and a new CLI process: still nothing goes
$AZDS controller stop >/dev/null 2>&1
start_ctl
sync
expect_eq "after a controller restart: 0 sent" "$(j .sent)" 0
expect_eq "after a controller restart: 0 deleted" "$(j .deleted)" 0

# ---- kill -9 of the controller in the middle of a sync: the next sync
# brings the workspace to the source (whatever the kill interrupted)
mkdir -p "$WORK/many"
for d in $(seq 1 30); do
	mkdir -p "$WORK/many/d$d"
	for f in $(seq 1 100); do seq "$d" "$((d * f))" >"$WORK/many/d$d/f$f.txt"; done
done
$AZDS workspace sync "$WORK/many" --name many -n dev >/dev/null 2>&1 &
SYNC_PID=$!
for i in $(seq 1 500); do # until the first batch is in (readiness only)
	[ -s "$(ls -d "$STATE"/workspaces/*/many 2>/dev/null | head -1)/manifest.log" ] && break
	sleep 0.01
done
kill -9 "$(cat "/run/azds/$INST/controller.pid")"
wait "$SYNC_PID" 2>/dev/null
echo "     (the sync the kill met exited $?: 0 when it had finished first)"
start_ctl
$AZDS workspace sync "$WORK/many" --name many -n dev -o json >"$WORK/out.json" 2>"$WORK/err"
expect_eq "after kill -9 mid-sync, the next sync succeeds" "$?" 0
MANY=$(ls -d "$STATE"/workspaces/*/many/tree | head -1)
if diff -r "$WORK/many" "$MANY" >"$WORK/diff" 2>&1; then ok "... and the workspace equals the source"; else bad "... the workspace differs: $(head -3 "$WORK/diff")"; fi
$AZDS workspace sync "$WORK/many" --name many -n dev -o json >"$WORK/out.json" 2>"$WORK/err"
expect_eq "... and a sync after it sends nothing" "$(j .sent)" 0
$AZDS workspace rm many -n dev >/dev/null

# ---- a file changed behind the sync's back (a pod rewrote it) is sent again
printf 'tampered\n' >"$TREE/src/main.c"
sync
# (dup.c has its bytes: the workspace copies them rather than being sent them)
expect_eq "a file changed in the workspace is restored (1 sent or copied there)" "$(($(j .sent) + $(j .copied)))" 1
same_tree "... and the workspace equals the source again"

# ---- a hostile client: refused with a 4xx, nothing written outside
for off in -5 abc 1x; do
	out=$(api GET "/v1/workspaces/app/manifest?space=dev&offset=$off")
	expect_eq "manifest offset [$off]: 400" "$(status_of "$out")" 400
done
out=$(api GET "/v1/workspaces/app/manifest?space=dev&offset=0")
expect_eq "manifest offset 0: 200" "$(status_of "$out")" 200
WS="/v1/workspaces/app/sync?space=dev"
hostile() { # hostile NAME WANT_STATUS BODY
	local out
	out=$(api POST "$WS" "$3")
	expect_eq "hostile: $1: $2" "$(status_of "$out")" "$2"
}
hostile "../x" 400 "$(craft --path ../x)"
hostile "a/../../x" 400 "$(craft --path "a/../../../../$OUTSIDE/dotdot")"
hostile "an absolute path" 400 "$(craft --path "$OUTSIDE/abs")"
hostile "a NUL in the path" 400 '{"files":[{"path":"a\u0000b","size":1,"sha256":"00","data":""}]}'
hostile "a bad hash" 400 "$(craft --path bad-hash.txt --sha "$(printf '0%.0s' $(seq 64))")"
hostile "a size the data does not have" 400 "$(craft --path short.txt --size 100)"
hostile "a size over the limit" 413 "$(craft --path huge.bin --size $((300 << 20)))"
hostile "truncated deflate" 400 "$(craft --path trunc.txt --content "$(seq 1000)" --truncate)"
hostile "a link out of the workspace" 400 "$(craft --path evil --target /etc)"
hostile "a link up and out" 400 "$(craft --path sub/evil --target ../../outside)"
hostile "not JSON" 400 'files=../x'
# a body over 1 MiB is refused on its head, before any byte of it is read
out=$(python3 - "$SOCK" "$WS" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("POST %s HTTP/1.1\r\nHost: azds\r\nContent-Type: application/json\r\n"
           "Content-Length: 2097152\r\n\r\n" % sys.argv[2]).encode())
s.settimeout(10)
print(s.recv(256).split(b"\r\n")[0].decode())
EOF
)
expect_contains "hostile: a body over 1 MiB: 413" "$out" " 413 "
# a write below a link the sync made: the link (the workspace's own) is
# replaced by a directory; it is never followed
hostile "a link inside is accepted" 200 "$(craft --path inlink --target src)"
hostile "a write below that link" 200 "$(craft --path inlink/pwn.txt)"
[ -e "$SRC/src/pwn.txt" ] || [ -e "$TREE/src/pwn.txt" ] && bad "the write below the link went through it" ||
	ok "the write below the link did not go through it"
[ -d "$TREE/inlink" ] && [ ! -L "$TREE/inlink" ] && ok "... the link made way for a directory" ||
	bad "... the link made way for a directory"
# a pod that swapped a directory of its workspace for a link out
mkdir -p "$TREE/podswap" && rm -rf "$TREE/podswap" && ln -s "$OUTSIDE" "$TREE/podswap"
hostile "a write through a directory a pod swapped for a link" 409 "$(craft --path podswap/x.txt)"
rm -f "$TREE/podswap"
for f in bad-hash.txt short.txt huge.bin trunc.txt evil; do
	[ -e "$TREE/$f" ] || [ -L "$TREE/$f" ] && bad "refused $f is in the workspace" || ok "refused $f left nothing"
done
expect_eq "nothing was written outside the workspace" "$(ls -A "$OUTSIDE" | wc -l)" 0
[ -e "$(dirname "$TREE")/x" ] || [ -e "$(dirname "$(dirname "$TREE")")/x" ] &&
	bad "../x landed next to the tree" || ok "../x landed nowhere"
# links chained out: each looks inside as text, but "up" is a link to the
# workspace's root, so y's '..'s past it climb out of the workspace
out=$(api POST "/v1/workspaces/app/sync?space=dev" "$(craft --path e/f/g/up --target ../../..)")
expect_eq "a link up to the workspace's root: 200" "$(status_of "$out")" 200
out=$(api POST "/v1/workspaces/app/sync?space=dev" "$(craft --path y --target e/f/g/up/../../../..)")
expect_eq "a link whose '..' follows a name (a link on the way): 400" "$(status_of "$out")" 400
[ -L "$TREE/y" ] && bad "... yet y was made" || ok "... and y was not made"
api POST "/v1/workspaces/app/sync?space=dev" '{"delete":["e"]}' >/dev/null
# a file and a path under it in one batch: refused (one of the two would be lost)
both=$(jq -cn --argjson a "$(craft --path fd)" --argjson b "$(craft --path fd/x)" '{files: ($a.files + $b.files)}')
out=$(api POST "/v1/workspaces/app/sync?space=dev" "$both")
expect_eq "a file and a path under it in one batch: 400" "$(status_of "$out")" 400
expect_contains "... naming both" "$out" '\"fd\" is a file or a link, and \"fd/x\" is under it'
[ -e "$TREE/fd" ] && bad "... yet fd was written" || ok "... and neither was written"
# a manifest page far past the end: an empty page at the end, not a negative offset
out=$(api GET "/v1/workspaces/app/manifest?space=dev&offset=18446744073709551615" | sed 's/ [0-9]*$//')
expect_eq "a manifest offset past the end: the page starts at the end" "$(echo "$out" | jq -r '.offset == .total and (.items | length) == 0')" true
expect_eq "staging holds nothing after refused batches" "$(ls -A "$(dirname "$TREE")/staging" | wc -l)" 0
sync
expect_eq "after the hostile batches the CLI's sync still works" "$RC" 0
same_tree "... and the workspace equals the source"

# ---- another uid
as_nobody() { # as_nobody ARGS...: the azds CLI as uid 65534, in the socket's group
	setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$(stat -c %g "$SOCK")" "$BIN/azds" -i "$INST" "$@" \
		</dev/null >"$WORK/nobody.out" 2>"$WORK/nobody.err"
}
mkdir -p "$WORK/nsrc" && printf 'mine\n' >"$WORK/nsrc/mine.txt" && chmod -R a+rX "$WORK/nsrc"
as_nobody workspace sync "$WORK/nsrc" --name app -n dev
expect_eq "another uid cannot sync into root's workspace" "$?" 1
expect_contains "... and is told whose it is" "$(cat "$WORK/nobody.err")" "belongs to uid 0"
[ -e "$TREE/mine.txt" ] && bad "nobody's file landed in root's workspace" || ok "nothing of nobody's landed there"
out=$(setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$(stat -c %g "$SOCK")" \
	curl -s --unix-socket "$SOCK" -X DELETE -w ' %{http_code}' "http://azds/v1/workspaces/app?space=dev")
expect_eq "another uid cannot remove it: 403" "$(status_of "$out")" 403
as_nobody workspace sync "$WORK/nsrc" --name nobodys -n dev
expect_eq "another uid syncs into a workspace of its own" "$?" 0
NTREE=$(ls -d "$STATE"/workspaces/*/nobodys/tree | head -1)
expect_eq "... whose files are that uid's" "$(stat -c %u "$NTREE/mine.txt")" $NOBODY

# a user's workspaces are bounded (each may hold 8 GiB): the 65th is refused
body=$(craft --path a.txt)
for i in $(seq 2 64); do
	setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$(stat -c %g "$SOCK")" curl -s -o /dev/null --unix-socket "$SOCK" \
		-X POST --data-binary "$body" "http://azds/v1/workspaces/n$i/sync?space=dev"
done
out=$(setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$(stat -c %g "$SOCK")" curl -s --unix-socket "$SOCK" \
	-X POST -w ' %{http_code}' --data-binary "$body" "http://azds/v1/workspaces/toomany/sync?space=dev")
expect_eq "a user's 65th workspace: 409" "$(status_of "$out")" 409
expect_contains "... naming the limit per user" "$out" "the limit per user"
for i in $(seq 2 64); do
	api DELETE "/v1/workspaces/n$i?space=dev" >/dev/null
done

# ---- ls, rm
$AZDS workspace ls -n dev -o json >"$WORK/ls.json"
expect_eq "workspace ls: app with its files" "$(jq -r '.items[] | select(.name == "app") | .files' "$WORK/ls.json")" "$(j .files)"
expect_eq "workspace ls: nobody's, owned by it" "$(jq -r '.items[] | select(.name == "nobodys") | .owner' "$WORK/ls.json")" $NOBODY
$AZDS workspace rm app -n dev >/dev/null
expect_eq "workspace rm: exit 0" "$?" 0
[ -e "$TREE" ] && bad "workspace rm left its tree" || ok "workspace rm removed its tree"
# a workspace a pod filled with a tree deeper than any sync may make (a pod
# writes its /workspace freely): removed all the same, the name free again
# (a recursion capped at 72 levels left tree/ behind, a 500, and a name
# that no sync could make again)
mkdir -p "$WORK/dsrc" && printf 'x\n' >"$WORK/dsrc/a.txt"
$AZDS workspace sync "$WORK/dsrc" --name deep -n dev >/dev/null || bad "workspace deep"
DTREE=$(ls -d "$STATE"/workspaces/*/deep/tree | head -1)
(cd "$DTREE" && for i in $(seq 1 150); do mkdir d && cd d || exit 1; done && echo bottom >f)
$AZDS workspace rm deep -n dev >"$WORK/rm.out" 2>&1
expect_eq "a workspace 150 directories deep: workspace rm exits 0" "$?" 0
[ -e "$(dirname "$DTREE")" ] && bad "... its directory is still there" || ok "... its directory is gone at once"
$AZDS workspace sync "$WORK/dsrc" --name deep -n dev >/dev/null
expect_eq "... and the name syncs again" "$?" 0
$AZDS workspace rm deep -n dev >/dev/null

# ---- a big file in parts outlives its workspace leaving the cache (8 are
# kept): other users' syncs in between used to drop the first part, and the
# second got a 409. The generation goes on from where it was, too.
python3 - "$WORK" <<'PYEOF'
import base64, hashlib, json, os, sys, zlib
w = sys.argv[1]
data = os.urandom(1 << 19) + os.urandom(1 << 18)
half = 1 << 19
sha = hashlib.sha256(data).hexdigest()
def part(off, chunk):
    return {"files": [{"path": "parted.bin", "mode": "0644", "size": len(data), "sha256": sha, "mtime": 0,
                       "offset": off, "data": base64.b64encode(zlib.compress(chunk)).decode()}]}
open(w + "/part1.json", "w").write(json.dumps(part(0, data[:half])))
open(w + "/part2.json", "w").write(json.dumps(part(half, data[half:])))
open(w + "/parted.sha", "w").write(sha)
PYEOF
$AZDS workspace sync "$WORK/dsrc" --name parted -n dev >/dev/null || bad "workspace parted"
gen0=$(api GET "/v1/workspaces/parted/manifest?space=dev" | sed 's/ [0-9]*$//' | jq -r .generation)
out=$(curl -s --unix-socket "$SOCK" -X POST -w ' %{http_code}' --data-binary @"$WORK/part1.json" \
	"http://azds/v1/workspaces/parted/sync?space=dev")
expect_eq "a big file's first part: 200" "$(status_of "$out")" 200
for i in 0 1 2 3 4 5 6 7 8; do
	$AZDS workspace sync "$WORK/dsrc" --name "evict$i" -n dev >/dev/null || bad "workspace evict$i"
done
out=$(curl -s --unix-socket "$SOCK" -X POST -w ' %{http_code}' --data-binary @"$WORK/part2.json" \
	"http://azds/v1/workspaces/parted/sync?space=dev")
expect_eq "... its second part after 9 other workspaces were synced: 200" "$(status_of "$out")" 200
PTREE=$(ls -d "$STATE"/workspaces/*/parted/tree | head -1)
expect_eq "... and the file is whole" "$(sha256sum "$PTREE/parted.bin" 2>/dev/null | cut -d' ' -f1)" "$(cat "$WORK/parted.sha")"
gen1=$(api GET "/v1/workspaces/parted/manifest?space=dev" | sed 's/ [0-9]*$//' | jq -r .generation)
if [ "$gen1" -gt "$gen0" ] 2>/dev/null; then
	ok "... the generation went on after the reload ($gen0 -> $gen1)"
else
	bad "the generation after the reload: $gen0 -> $gen1"
fi
for i in 0 1 2 3 4 5 6 7 8; do $AZDS workspace rm "evict$i" -n dev >/dev/null; done
$AZDS workspace rm parted -n dev >/dev/null

# ---- the limits count what a batch leaves, not what it names: a delete of
# a path that is not there (or of one path many times) makes no room. The
# store is told of an entry of 8 GiB less 1 KiB (the bytes are not written:
# a line in the workspace's manifest.log, replayed at the next start)
$AZDS workspace sync "$WORK/dsrc" --name lim -n dev >/dev/null || bad "workspace lim"
LDIR=$(dirname "$(ls -d "$STATE"/workspaces/*/lim/tree | head -1)")
$AZDS controller stop >/dev/null 2>&1
grep '^F f .* a\.txt$' "$LDIR/manifest.log" | head -1 | awk '{ $4 = "8589933568"; $9 = "huge.bin"; print }' \
	>>"$LDIR/manifest.log"
start_ctl
more=$(craft --path more.txt --pad 4096)
out=$(api POST "/v1/workspaces/lim/sync?space=dev" "$more")
expect_eq "4 KiB more past 8 GiB: 409" "$(status_of "$out")" 409
out=$(api POST "/v1/workspaces/lim/sync?space=dev" "$(echo "$more" | jq -c '. + {delete: ["not-there"]}')")
expect_eq "... with a delete of a path that is not there: still 409" "$(status_of "$out")" 409
out=$(api POST "/v1/workspaces/lim/sync?space=dev" "$(echo "$more" | jq -c '. + {delete: ["a.txt", "a.txt", "a.txt"]}')")
expect_eq "... with one small file deleted three times: still 409" "$(status_of "$out")" 409
out=$(api POST "/v1/workspaces/lim/sync?space=dev" "$(echo "$more" | jq -c '. + {delete: ["huge.bin"]}')")
expect_eq "... with the big entry deleted: 200" "$(status_of "$out")" 200
$AZDS workspace rm lim -n dev >/dev/null
sync
expect_eq "a sync after rm makes it again and sends everything" "$(j .sent)" "$(j .scanned)"

finish
