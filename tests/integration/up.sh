#!/bin/bash
# SPDX-License-Identifier: MIT
# azds up / down end to end, through the controller's API: a Python service
# in Dev Spaces' layout comes up in dev with its RUN step done, answers
# through the router; a second up sends nothing and skips the cached step;
# a save under `azds up` restarts it and the next request shows the
# change; a static file is copied in place; a broken build reports its
# output and the old version keeps serving, also when it comes while a
# restarted process is still starting; a broken azds.yaml is refused
# naming the line; a Node project in Dev Spaces' layout (FROM node:lts,
# RUN npm install, CMD ["npm","start"]) comes up unchanged; down leaves
# nothing (pods, service, workspace).
INST="${AZDS_TEST_PREFIX:-}up"
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds -i $INST"
UP_PID=
SLOW_PID=

cleanup() {
	[ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null
	[ -n "$SLOW_PID" ] && kill "$SLOW_PID" 2>/dev/null
	$CTL purge >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

daemon_up
$AZDS space select -n dev -y >/dev/null || bad "select dev"
$AZDS pod run client -n dev >/dev/null || bad "pod run client (bare)"

# until the service answers with text containing $2 (bounded; readiness only)
wait_body() { # URL NEEDLE
	local i out
	for i in $(seq 1 200); do
		out=$(probe client get "$1" / --timeout 2 2>&1)
		case "$out" in *"$2"*) echo "$out"; return 0 ;; esac
		sleep 0.05
	done
	echo "$out"
	return 1
}

# until the log file holds a line matching $2 (bounded)
wait_log() { # FILE NEEDLE
	local i
	for i in $(seq 1 600); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# ---- a Python service in Dev Spaces' layout
P=$WORK/hello
mkdir -p "$P/static" "$P/charts/hello/templates"
cat >"$P/app.py" <<'EOF'
import http.server, os
VERSION = "v1"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/static/"):
            body = open("." + self.path, "rb").read()
        else:
            built = open("build.txt").read().strip()
            body = ("hello %s from %s built=%s\n" % (VERSION, os.environ.get("AZDS_SPACE", "?"), built)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        print("request", self.path, flush=True)
print("listening on", os.environ.get("PORT"), flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), H).serve_forever()
EOF
echo "asset one" >"$P/static/a.txt"
echo "secret" >"$P/notes.local"
printf '*.local\n' >"$P/.dockerignore"
cat >"$P/Dockerfile" <<'EOF'
FROM python:3.11-slim
ENV GREETING=hi
WORKDIR /app
COPY . .
RUN echo "step-ran" > build.txt && echo "the build step ran"
EXPOSE 8080
CMD ["python3", "app.py"]
EOF
cat >"$P/azds.yaml" <<'EOF'
kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
install:
  chart: charts/hello
  values:
  - values.dev.yaml?
  set:
    image:
      tag: $(tag)
configurations:
  develop:
    build:
      dockerfile: Dockerfile
    container:
      sync:
      - "**/*.py"
      - "static/**"
      iterate:
        processesToKill: [python3]
        buildCommands:
        - [python3, -m, py_compile, app.py]
EOF
printf 'apiVersion: v2\nname: hello\nversion: 0.1.0\n' >"$P/charts/hello/Chart.yaml"
cp "$P/Dockerfile" "$WORK/Dockerfile.orig"

out=$(cd "$P" && $AZDS up --dry-run 2>&1)
expect_eq "up --dry-run succeeds" "$?" 0
expect_contains "... naming the service and space" "$out" "Service:    hello in space dev"
expect_contains "... the workspace at WORKDIR" "$out" "at /app in the pod"
expect_contains "... the build step" "$out" 'Build 1/1: echo "step-ran" > build.txt'
expect_contains "... and the command on the host's python3" "$out" "/usr/bin/python3 app.py"
expect_contains "... having run nothing" "$($AZDS pod list -n dev)" "client"
expect_not_contains "... (no pod of hello)" "$($AZDS pod list -n dev)" "hello"

out=$(cd "$P" && $AZDS up -d 2>&1)
expect_eq "up -d succeeds" "$?" 0
expect_contains "... syncs the folder" "$out" "Synchronized:"
expect_contains "... runs the build step, its output prefixed" "$out" "[hello] the build step ran"
expect_contains "... and starts it" "$out" "Started hello in dev"
VIP=$($AZDS list-uris --addresses | awk '$1 == "hello" { sub(".*://", "", $2); print $2 }')
body=$(wait_body "$VIP" "hello v1")
expect_contains "the service answers through the router, from its space, with its build" "$body" \
	"hello v1 from dev built=step-ran"
r=$(probe client get "$VIP" /static/a.txt)
expect_contains "the workspace holds the synced files" "$r" "asset one"
r=$(probe client get "$VIP" /notes.local)
expect_not_contains ".dockerignore'd files never reach the workspace" "$r" "secret"

out=$(cd "$P" && $AZDS up -d 2>&1)
expect_contains "a second up sends no file" "$out" "0 files sent"
expect_contains "... and skips the cached build step" "$out" "(cached: its inputs did not change)"

# ---- live update under a running `azds up`
(cd "$P" && exec $AZDS up >"$WORK/up.log" 2>&1) &
UP_PID=$!
wait_log "$WORK/up.log" "Press Ctrl+C" || bad "up never got to watching: $(cat "$WORK/up.log")"
# until curl gets a body containing $2 (bounded; readiness only)
wait_curl() { # URL NEEDLE
	local i out
	for i in $(seq 1 100); do
		out=$(curl -s --max-time 5 "$1")
		case "$out" in *"$2"*) echo "$out"; return 0 ;; esac
		sleep 0.05
	done
	echo "$out"
	return 1
}
fwd=$(grep -o 'http://localhost:[0-9]*' "$WORK/up.log" | head -1)
expect_contains "the forward up prints serves the service" "$(wait_curl "$fwd/" "hello v1")" "hello v1 from dev"
ing=$(grep -o 'http://dev\.hello\.localhost:[0-9]*/' "$WORK/up.log" | head -1)
expect_contains "... and so does the ingress host it prints" "$(wait_curl "$ing" "hello v1")" "hello v1 from dev"
sed -i 's/VERSION = "v1"/VERSION = "v2"/' "$P/app.py"
wait_log "$WORK/up.log" "Restarted hello" || bad "a save was not acted on: $(tail -5 "$WORK/up.log")"
body=$(wait_body "$VIP" "hello v2")
expect_contains "an edit shows in the next request" "$body" "hello v2 from dev"
# its HTTP traces come between the output lines (Dev Spaces did it with a sidecar; here the kernel)
probe client get "$VIP" /traced-by-up >/dev/null
wait_log "$WORK/up.log" "GET /traced-by-up" || bad "azds up showed no trace: $(tail -5 "$WORK/up.log")"
expect_contains "azds up shows its service's HTTP traces, prefixed" "$(grep 'GET /traced-by-up' "$WORK/up.log")" \
	"hello: "
expect_contains "... naming the caller, the space that served it and why" \
	"$(grep 'GET /traced-by-up' "$WORK/up.log")" "client -> hello@dev (own)  GET /traced-by-up  200"
expect_contains "... said in one line with its time, one file synced" "$(grep 'Restarted hello' "$WORK/up.log")" \
	" ms (1 file synced: app.py)"
restarts=$(grep -c 'Restarted hello' "$WORK/up.log")
echo "asset two" >"$P/static/a.txt"
wait_log "$WORK/up.log" "copied in place" || bad "a static file was not synced: $(tail -5 "$WORK/up.log")"
expect_contains "a static file is copied in place" "$(probe client get "$VIP" /static/a.txt)" "asset two"
expect_eq "... without a restart" "$(grep -c 'Restarted hello' "$WORK/up.log")" "$restarts"
expect_contains "the service's output streams, prefixed" "$(cat "$WORK/up.log")" "[hello] listening on 8080"
expect_eq "... each line once (a restart does not print the log again)" \
	"$(grep -c '\[hello\] listening on 8080' "$WORK/up.log")" 2
# a directory made under a running up: its files are synced (no event names them)
mkdir "$P/static/new" && echo "brand new" >"$P/static/new/b.txt"
for i in $(seq 1 100); do
	probe client get "$VIP" /static/new/b.txt | grep -q "brand new" && break
	sleep 0.05
done
expect_contains "a directory made under up is synced" "$(probe client get "$VIP" /static/new/b.txt)" "brand new"
mv "$P/static/new" "$P/static/moved"
for i in $(seq 1 100); do
	probe client get "$VIP" /static/moved/b.txt | grep -q "brand new" && break
	sleep 0.05
done
expect_contains "... and one moved within the folder too" "$(probe client get "$VIP" /static/moved/b.txt)" "brand new"
echo "changed after the move" >"$P/static/moved/b.txt"
for i in $(seq 1 100); do
	probe client get "$VIP" /static/moved/b.txt | grep -q "changed after the move" && break
	sleep 0.05
done
expect_contains "... whose files are watched at their new path" "$(probe client get "$VIP" /static/moved/b.txt)" \
	"changed after the move"
restarts=$(grep -c 'Restarted hello' "$WORK/up.log")
mv "$P/static/moved" "$WORK/moved-out"
for i in $(seq 1 100); do
	probe client get "$VIP" /static/moved/b.txt | grep -q "changed after the move" || break
	sleep 0.05
done
expect_not_contains "a directory moved out of the folder goes from the workspace" \
	"$(probe client get "$VIP" /static/moved/b.txt)" "changed after the move"
echo "outside" >"$WORK/moved-out/b.txt"
sleep 0.2
expect_not_contains "... and its later changes are not synced under the old path" \
	"$(probe client get "$VIP" /static/moved/b.txt)" "outside"
# a save that breaks buildCommands: the old version keeps serving
before=$(grep -c 'the build of hello failed' "$WORK/up.log")
printf 'this is not python(\n' >>"$P/app.py"
for i in $(seq 1 600); do
	[ "$(grep -c 'the build of hello failed' "$WORK/up.log")" -gt "$before" ] && break
	sleep 0.05
done
expect_contains "a failing build command on a save is reported with its output" "$(tail -20 "$WORK/up.log")" \
	"SyntaxError"
expect_contains "... and the running version keeps serving" "$(probe client get "$VIP" /)" "hello v2 from dev"
# (up takes one change at a time: the move's was over before this one)
expect_eq "files that are only deleted (the directory moved out) restart nothing" \
	"$(grep -c 'Restarted hello' "$WORK/up.log")" "$restarts"
restarts=$(grep -c 'Restarted hello' "$WORK/up.log")
sed -i '/^this is not python/d' "$P/app.py"
for i in $(seq 1 600); do
	[ "$(grep -c 'Restarted hello' "$WORK/up.log")" -gt "$restarts" ] && break
	sleep 0.05
done
expect_contains "the fixed save restarts it" "$(wait_body "$VIP" "hello v2")" "hello v2 from dev"

# a build that fails: the old version keeps serving
before=$(grep -c 'the build of hello failed' "$WORK/up.log")
sed -i 's/^RUN .*/RUN echo "compiling..." \&\& echo "error: broken on purpose" >\&2 \&\& exit 3/' "$P/Dockerfile"
for i in $(seq 1 600); do
	[ "$(grep -c 'the build of hello failed' "$WORK/up.log")" -gt "$before" ] && break
	sleep 0.05
done
[ "$(grep -c 'the build of hello failed' "$WORK/up.log")" -gt "$before" ] ||
	bad "a failed build was not reported: $(tail -5 "$WORK/up.log")"
expect_contains "a failed build shows the command's output" "$(cat "$WORK/up.log")" "[hello] error: broken on purpose"
expect_contains "... and says the previous version keeps serving" "$(cat "$WORK/up.log")" "previous version keeps serving"
expect_contains "... which it does" "$(probe client get "$VIP" /)" "hello v2 from dev"
kill -INT "$UP_PID"
wait "$UP_PID"
UP_PID=
expect_contains "Ctrl-C detaches" "$(tail -2 "$WORK/up.log")" "keeps running"
expect_contains "... and the service keeps running" "$(probe client get "$VIP" /)" "hello v2"
# a redeploy starts the new pod before the old one goes: it alternates between two names
cp "$WORK/Dockerfile.orig" "$P/Dockerfile"
out=$(cd "$P" && $AZDS up -d -n dev 2>&1)
expect_contains "a changed project is deployed again" "$out" "Started hello in dev"
pods=$($AZDS pod list -n dev)
expect_contains "... its new pod under the other name" "$pods" "hello-dev--b"
expect_not_contains "... the old one gone" "$pods" "hello-dev "
expect_contains "... and it answers" "$(wait_body "$VIP" "hello v2")" "hello v2 from dev"
expect_contains "logs finds it under either name" "$($AZDS logs hello -n dev --tail 5)" "[hello] listening on 8080"

# ---- list-up and logs
out=$($AZDS list-up -n dev)
expect_contains "list-up shows the service, its space, type and status" "$out" "hello"
expect_contains "... Running" "$out" "Running"
expect_contains "... under its headings" "$out" "Name"
expect_contains "list-up --all adds the pods" "$($AZDS list-up -n dev --all)" "Pod"
expect_contains "list-up -o json" "$($AZDS list-up -n dev -o json)" '"type": "Service"'
out=$(cd "$P" && $AZDS logs -n dev --tail 1)
expect_eq "logs --tail 1 prints one line" "$(echo "$out" | wc -l)" 1
expect_contains "... prefixed with the service" "$out" "[hello] "
expect_contains "logs SERVICE from anywhere" "$($AZDS logs hello -n dev)" "[hello] listening on 8080"
expect_contains "logs --since 1h has it too" "$($AZDS logs hello -n dev --since 1h)" "[hello] listening on 8080"
out=$($AZDS logs hello -n dev --since soon 2>&1)
expect_eq "logs --since with no duration is a usage error" "$?" 2
expect_contains "... naming it" "$out" '--since "soon"'
expect_contains "logs -o json: one object per line" "$($AZDS logs hello -n dev --tail 1 -o json)" '"service":"hello"' 

# ---- alice's copy in dev/alice; dev's is what everyone else sees
$AZDS space select -n dev/alice -y >/dev/null || bad "select dev/alice"
A=$WORK/hello-alice
cp -r "$P" "$A"
cp "$WORK/Dockerfile.orig" "$A/Dockerfile"
sed -i 's/VERSION = "v2"/VERSION = "alice"/' "$A/app.py"
out=$(cd "$A" && $AZDS up -d -n dev/alice 2>&1)
expect_contains "alice's copy comes up in dev/alice" "$out" "Started hello in dev/alice"
expect_contains "a request routed as alice reaches hers" \
	"$(wait_body "$VIP" "hello alice" 2>/dev/null; probe client get "$VIP" / -H 'azds-route-as: alice')" "hello alice from dev/alice"
expect_contains "... everyone else still gets dev's" "$(probe client get "$VIP" /)" "hello v2 from dev"
iport=${ing##*:}
iport=${iport%/}
expect_contains "the ingress host alice.s.dev.hello.localhost reaches hers" \
	"$(curl -s --max-time 10 "http://alice.s.dev.hello.localhost:$iport/")" "hello alice from dev/alice"
(cd "$A" && $AZDS down -n dev/alice >/dev/null) || bad "down in dev/alice"
expect_contains "after alice's down, her route falls back to dev's" \
	"$(probe client get "$VIP" / -H 'azds-route-as: alice')" "hello v2 from dev"

# a removed space takes its workspaces along
(cd "$A" && $AZDS up -d -n dev/alice >/dev/null 2>&1) || bad "up again in dev/alice"
expect_contains "alice's workspace exists" "$($AZDS workspace ls -A)" "dev/alice"
$AZDS space remove -n dev/alice -y >/dev/null || bad "space remove dev/alice"
expect_not_contains "... and goes with her space" "$($AZDS workspace ls -A)" "dev/alice"
$AZDS space select -n dev -y >/dev/null

# ---- a broken azds.yaml names the line
B=$WORK/broken
mkdir -p "$B"
cp "$P/Dockerfile" "$P/app.py" "$B/"
printf 'kind: helm-release\napiVersion: 1.1\nconfigurations:\n  develop:\n    container:\n      sync: 7\n' >"$B/azds.yaml"
out=$(cd "$B" && $AZDS up --dry-run 2>&1)
expect_eq "a broken azds.yaml fails" "$?" 1
expect_contains "... naming the file and line" "$out" "azds.yaml:6:"

# ---- a Node project in Dev Spaces' layout comes up unchanged
N=$WORK/webfrontend
mkdir -p "$N/charts/webfrontend"
# nothing to fetch, and no audit or update check: tests reach loopback only
printf 'package-lock=false\naudit=false\nfund=false\nupdate-notifier=false\noffline=true\n' >"$N/.npmrc"
cat >"$N/package.json" <<'EOF'
{ "name": "webfrontend", "version": "1.0.0", "scripts": { "start": "node server.js" } }
EOF
cat >"$N/server.js" <<'EOF'
const http = require('http');
const port = process.env.PORT || 80;
http.createServer((req, res) => res.end('webfrontend from ' + process.env.AZDS_SPACE + '\n')).listen(port);
console.log('Listening on port ' + port);
EOF
cat >"$N/Dockerfile" <<'EOF'
FROM node:lts
ENV PORT 80
EXPOSE 80
WORKDIR /usr/src/app
COPY package.json .
RUN npm install
COPY . .
CMD ["npm", "start"]
EOF
cat >"$N/azds.yaml" <<'EOF'
kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
install:
  chart: charts/webfrontend
  values:
  - values.dev.yaml?
  - secrets.dev.yaml?
  set:
    replicaCount: 1
    image:
      repository: webfrontend
      tag: $(tag)
      pullPolicy: Never
    ingress:
      hosts:
      - $(spacePrefix)$(rootSpacePrefix)webfrontend$(hostSuffix)
configurations:
  develop:
    build:
      useGitIgnore: true
    container:
      sync:
      - "**/server.js"
      - "**/public/**"
      iterate:
        processesToKill: [node]
EOF
printf 'apiVersion: v1\nname: webfrontend\nversion: 0.1.0\n' >"$N/charts/webfrontend/Chart.yaml"
out=$(cd "$N" && $AZDS up -d -n dev 2>&1)
expect_eq "a Dev Spaces Node project comes up" "$?" 0
expect_contains "... npm install ran" "$out" "Step 1/1: RUN npm install"
WVIP=$($AZDS list-uris --addresses | awk '$1 == "webfrontend" { sub(".*://", "", $2); print $2 }')
expect_contains "... and npm start serves it at /usr/src/app" "$(wait_body "$WVIP" webfrontend)" "webfrontend from dev"

# ---- a save that fails its build just after a restart: the restarted
# version serves. Its process reads its code a second after it starts, so
# a restart that went on before the process listened would let the broken
# save reach a file it had yet to read.
S=$WORK/slow
mkdir -p "$S"
cat >"$S/app.py" <<'EOF'
import http.server, os
VERSION = "s1"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("slow %s\n" % VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("", int(os.environ.get("PORT", "8080"))), H).serve_forever()
EOF
cat >"$S/Dockerfile" <<'EOF'
FROM python:3.11-slim
WORKDIR /app
COPY . .
EXPOSE 8080
CMD ["sh", "-c", "sleep 1 && exec python3 app.py"]
EOF
cat >"$S/azds.yaml" <<'EOF'
kind: helm-release
apiVersion: 1.1
build:
  context: .
  dockerfile: Dockerfile
configurations:
  develop:
    container:
      sync:
      - "**/*.py"
      iterate:
        processesToKill: [python3]
        buildCommands:
        - [python3, -m, py_compile, app.py]
EOF
(cd "$S" && exec $AZDS up -n dev >"$WORK/slow.log" 2>&1) &
SLOW_PID=$!
wait_log "$WORK/slow.log" "Press Ctrl+C" || bad "up of slow never got to watching: $(cat "$WORK/slow.log")"
SVIP=$($AZDS list-uris --addresses | awk '$1 == "slow" { sub(".*://", "", $2); print $2 }')
# "Started" means serving: one request at once, no waiting for it
expect_contains "a service that starts a second late serves as soon as up says it started" \
	"$(probe client get "$SVIP" /)" "slow s1"
expect_contains "a service that loads its code a second after it starts comes up" "$(wait_body "$SVIP" "slow s1")" \
	"slow s1"
sed -i 's/VERSION = "s1"/VERSION = "s2"/' "$S/app.py"
wait_log "$WORK/slow.log" "Restarted slow" || bad "a save of slow was not acted on: $(tail -5 "$WORK/slow.log")"
printf 'this is not python(\n' >>"$S/app.py"
wait_log "$WORK/slow.log" "the build of slow failed" ||
	bad "slow's failing build was not reported: $(tail -5 "$WORK/slow.log")"
expect_contains "a restart ends once its process listens: a failing save right after leaves the new version serving" \
	"$(probe client get "$SVIP" /)" "slow s2"
# azds down while up runs: up stops, saying so, rather than carrying on and
# bringing a half of what down removed back with the next save
(cd "$S" && $AZDS down -n dev >/dev/null 2>&1) || bad "down slow"
wait_log "$WORK/slow.log" "slow was removed from dev (azds down); up stops" ||
	bad "up of slow went on after down: $(tail -5 "$WORK/slow.log")"
wait "$SLOW_PID"
expect_eq "... and exits 1" "$?" 1
SLOW_PID=
expect_not_contains "... without saying the service keeps running" "$(cat "$WORK/slow.log")" "keeps running in dev (azds down"
expect_not_contains "... and nothing of slow is left" "$($AZDS workspace ls 2>&1) $($AZDS service list -A)" "slow"

# ---- a monorepo's service (build.context: ..): the context is what is
# synced and watched, so the shared code the Dockerfile copies is there
# (only the service's own folder was synced, and node found no module)
M="$WORK/mono"
mkdir -p "$M/shared" "$M/svca"
printf 'module.exports = "shared v1";\n' >"$M/shared/lib.js"
cat >"$M/svca/server.js" <<'EOF'
const http = require('http');
const lib = require('../shared/lib.js');
http.createServer((req, res) => res.end('svca with ' + lib + '\n')).listen(process.env.PORT || 80);
EOF
cat >"$M/svca/Dockerfile" <<'EOF'
FROM node:lts
ENV PORT 80
EXPOSE 80
WORKDIR /app
COPY shared ./shared
COPY svca ./svca
CMD ["node", "svca/server.js"]
EOF
cat >"$M/svca/azds.yaml" <<'EOF'
kind: helm-release
apiVersion: 1.1
build:
  context: ..
  dockerfile: svca/Dockerfile
configurations:
  develop:
    container:
      sync:
      - "**/*.js"
EOF
# up_serves DIR SERVICE ANSWER WHAT: up -d of DIR in dev, SERVICE answers ANSWER, then down
up_serves() {
	local vip

	(cd "$1" && $AZDS up -d -n dev >"$WORK/up_serves.out" 2>&1)
	expect_eq "$4 comes up" "$?" 0
	vip=$($AZDS list-uris --addresses | awk -v s="$2" '$1 == s { sub(".*://", "", $2); print $2 }')
	expect_contains "... and answers \"$3\"" "$(wait_body "$vip" "$3")" "$3"
	(cd "$1" && $AZDS down -n dev >/dev/null 2>&1) || bad "down $2"
}
up_serves "$M/svca" svca "svca with shared v1" "a service with build.context .. (the shared code in its workspace)"

# plain_yaml DIR: an azds.yaml that builds DIR's Dockerfile from DIR
plain_yaml() { printf 'kind: helm-release\napiVersion: 1.1\nbuild:\n  context: .\n  dockerfile: Dockerfile\n' >"$1/azds.yaml"; }

# ---- a GOPATH-era Go service (BikeSharingApp's billing): `go install` puts
# the binary in $GOPATH/bin and ENTRYPOINT names it bare, as golang:* has
# /go/bin on PATH. It was refused at plan time (not on the host's PATH)
G="$WORK/billing"
mkdir -p "$G"
cat >"$G/main.go" <<'EOF'
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "billing from %s\n", os.Getenv("AZDS_SPACE"))
	})
	http.ListenAndServe(":80", nil)
}
EOF
printf 'module app\n\ngo 1.21\n' >"$G/go.mod"
cat >"$G/Dockerfile" <<'EOF'
FROM golang:1.19
EXPOSE 80
COPY . /go/src/app
WORKDIR /go/src/app
RUN go install -v
ENTRYPOINT ["app"]
EOF
plain_yaml "$G"
up_serves "$G" billing "billing from dev" "a GOPATH-style Go service (go install, ENTRYPOINT [\"app\"])"

# ---- a service whose process exits at once is not "Started": up -d says it
# is not running, with the end of its output, and exits 1 (it said
# "Started" and 0, and curl met a 502)
C="$WORK/crash"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM python:3.11-slim
WORKDIR /app
COPY . .
EXPOSE 8080
CMD ["sh", "-c", "echo crashing on purpose; exit 3"]
EOF
plain_yaml "$C"
out=$(cd "$C" && $AZDS up -d -n dev 2>&1)
expect_eq "up -d of a service that exits at once: exit 1" "$?" 1
expect_contains "... it says the service is not running" "$out" "crash in dev is not running"
expect_contains "... with the end of its output" "$out" "[crash] crashing on purpose"
expect_not_contains "... and never Started" "$out" "Started crash"
expect_eq "... and list-uris says it is not ready (its pod is an endpoint that answers nothing)" \
	"$($AZDS list-uris -n dev -o json | jq -r '.items[] | select(.service == "crash") | .status')" NotReady
(cd "$C" && $AZDS down -n dev >/dev/null 2>&1) || bad "down crash"
out=$(cd "$C" && $AZDS down -n dev 2>&1)
expect_eq "a second down: exit 0" "$?" 0
expect_contains "... saying there was nothing to remove, not 'Removed'" "$out" "Nothing of crash in dev to remove"

# ---- down leaves nothing
out=$(cd "$P" && $AZDS down -n dev 2>&1)
expect_eq "down succeeds" "$?" 0
expect_not_contains "... no pod of hello is left" "$($AZDS pod list -A)" "hello"
expect_not_contains "... nor the service" "$($AZDS service list -A)" "hello"
expect_not_contains "... nor its workspace" "$($AZDS workspace ls 2>&1)" "hello"
(cd "$N" && $AZDS down -n dev >/dev/null 2>&1) || bad "down webfrontend"

echo "up: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
