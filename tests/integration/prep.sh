#!/bin/bash
# SPDX-License-Identifier: MIT
# azds prep end to end, with the real azds binary and no controller: a
# project of every language it detects, each generated file checked (the
# YAML ones parsed with PyYAML; the Helm templates, which hold {{ }}, read
# as text: what a deployment, service and ingress need, blocks balanced,
# every named template used is defined), --enable-ingress, --name, --port,
# --lang, a second run that keeps every file and says so, a developer's
# Dockerfile left byte-identical, the errors (nothing detectable, a missing,
# unreadable or unwritable folder, bad options) and a full disk that leaves
# no half-written file. With helm on PATH, helm lint and helm template too.
INST=${AZDS_TEST_PREFIX:-}prep
. "$(dirname "$0")/lib.sh"

AZDS="$BIN/azds"
NOBODY=65534
cleanup() {
	rm -rf "$WORK"
}

# az ARGS...: azds -i INST ARGS with no terminal; sets RC, OUT and ERR
az() {
	"$AZDS" -i "$INST" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
	RC=$?
	OUT=$(cat "$WORK/out")
	ERR=$(cat "$WORK/err")
}

# a python3 with PyYAML: Debian's python3-yaml (scripts/install-deps.sh) is for /usr/bin/python3,
# which another python3 earlier in PATH may lack
PY=""
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import yaml' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "FAIL no python3 with PyYAML (apt-get install python3-yaml; scripts/install-deps.sh does)"
	exit 1
fi

# files FOLDER: every file under it with its checksum, sorted
files() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

GENERATED="Dockerfile Dockerfile.develop .dockerignore azds.yaml"
chart_files() {
	echo Chart.yaml values.yaml .helmignore templates/_helpers.tpl templates/deployment.yaml \
		templates/service.yaml templates/ingress.yaml templates/secrets.yaml | tr ' ' '\n' | sed "s|^|charts/$1/|"
}

# check.py FOLDER NAME PORT INGRESS KILL: the generated files, parsed and read
cat >"$WORK/check.py" <<'EOF'
import json, os, re, sys
import yaml

d, name, port, ingress, kill = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "true", sys.argv[5]
fails, n = [], 0


def check(cond, what):
    global n
    n += 1
    if not cond:
        fails.append(what)


def read(p):
    with open(os.path.join(d, p)) as f:
        return f.read()


def load(p):
    try:
        doc = yaml.safe_load(read(p))
    except Exception as e:
        fails.append(f"{p}: not YAML: {e}")
        return {}
    check(isinstance(doc, dict), f"{p}: a mapping")
    return doc if isinstance(doc, dict) else {}


def strings(v):
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v)


# azds.yaml, Dev Spaces' schema
a = load("azds.yaml")
check(a.get("kind") == "helm-release", "azds.yaml: kind helm-release")
check(str(a.get("apiVersion")) == "1.1", "azds.yaml: apiVersion 1.1")
check(a.get("build") == {"context": ".", "dockerfile": "Dockerfile"}, "azds.yaml: build")
inst = a.get("install", {})
check(inst.get("chart") == f"charts/{name}", "azds.yaml: install.chart")
check(inst.get("values") == ["values.dev.yaml?", "secrets.dev.yaml?"], "azds.yaml: install.values")
s = inst.get("set", {})
img = s.get("image", {})
check(img == {"repository": name, "tag": "$(tag)", "pullPolicy": "Never"}, f"azds.yaml: set.image {img}")
check(s.get("ingress", {}).get("hosts") == [f"$(spacePrefix)$(rootSpacePrefix){name}$(hostSuffix)"],
      "azds.yaml: set.ingress.hosts")
dev = a.get("configurations", {}).get("develop", {})
check(dev.get("build", {}).get("dockerfile") == "Dockerfile.develop", "azds.yaml: develop.build.dockerfile")
check(dev.get("build", {}).get("useGitIgnore") is True, "azds.yaml: develop.build.useGitIgnore")
c = dev.get("container", {})
check(strings(c.get("sync")), f"azds.yaml: container.sync strings {c.get('sync')}")
check(strings(c.get("command")), f"azds.yaml: container.command strings {c.get('command')}")
it = c.get("iterate", {})
check(it.get("processesToKill") == [kill], f"azds.yaml: processesToKill {it.get('processesToKill')} != [{kill}]")
bc = it.get("buildCommands")
check(bc is None or (isinstance(bc, list) and all(strings(x) for x in bc)), f"azds.yaml: buildCommands {bc}")

# the Dockerfiles: FROM first, WORKDIR, ENV PORT and EXPOSE, RUN, CMD last in exec form
for df in ("Dockerfile", "Dockerfile.develop"):
    ins = [l for l in read(df).splitlines() if l.strip() and not l.lstrip().startswith("#")]
    words = [l.split()[0] for l in ins]
    check(words and words[0] == "FROM", f"{df}: FROM first")
    for w in ("WORKDIR", "RUN", "EXPOSE"):
        check(w in words, f"{df}: {w}")
    check(f"EXPOSE {port}" in ins and f"ENV PORT={port}" in ins, f"{df}: EXPOSE {port} and ENV PORT={port}")
    check(words[-1] == "CMD", f"{df}: CMD last")
    try:
        cmd = json.loads(ins[-1][3:])
        check(strings(cmd), f"{df}: CMD a JSON array of strings")
    except ValueError:
        check(False, f"{df}: CMD in exec form (JSON): {ins[-1]}")
ign = read(".dockerignore").splitlines()
check("charts" in ign and "azds.yaml" in ign and ".git" in ign, ".dockerignore")

# the chart
ch = f"charts/{name}"
cy = load(f"{ch}/Chart.yaml")
check(cy.get("apiVersion") == "v2" and cy.get("name") == name, f"Chart.yaml: apiVersion v2, name {name}")
check(re.fullmatch(r"\d+\.\d+\.\d+", str(cy.get("version", ""))) is not None, "Chart.yaml: a SemVer version")
v = load(f"{ch}/values.yaml")
check(v.get("image", {}).get("repository") == name, "values.yaml: image.repository")
check(v.get("service", {}).get("port") == 80, "values.yaml: service.port 80")
check(v.get("ingress", {}).get("enabled") is ingress, f"values.yaml: ingress.enabled {ingress}")
check(v.get("fullnameOverride") == name, "values.yaml: fullnameOverride")

tpl = {t: read(f"{ch}/templates/{t}") for t in
       ("_helpers.tpl", "deployment.yaml", "service.yaml", "ingress.yaml", "secrets.yaml")}
for t, text in tpl.items():
    check(text.count("{{") == text.count("}}"), f"{t}: {{{{ and }}}} balanced")
    acts = [x.strip() for x in re.findall(r"\{\{-?(.*?)-?\}\}", text, re.S)]
    words = [x.split()[0] for x in acts if x and not x.startswith("/*")]
    opens = sum(w in ("if", "range", "with", "define", "block") for w in words)
    check(opens == words.count("end"), f"{t}: {opens} blocks opened, {words.count('end')} ended")
dep, svc, ing = tpl["deployment.yaml"], tpl["service.yaml"], tpl["ingress.yaml"]
for need in ("apiVersion: apps/v1", "kind: Deployment", "containers:", "image: \"{{ .Values.image.repository }}",
             "ports:", f"containerPort: {port}", "selector:", "matchLabels:", "replicas: {{ .Values.replicaCount }}"):
    check(need in dep, f"deployment.yaml: {need}")
for need in ("apiVersion: v1", "kind: Service", "ports:", "port: {{ .Values.service.port }}", "targetPort: http",
             "selector:"):
    check(need in svc, f"service.yaml: {need}")
body = re.sub(r"\{\{-? */\*.*?\*/ *-?\}\}\n?", "", ing, flags=re.S)
check(body.startswith("{{- if .Values.ingress.enabled -}}") and body.rstrip().endswith("{{- end }}"),
      "ingress.yaml: all of it under .Values.ingress.enabled")
for need in ("apiVersion: networking.k8s.io/v1", "kind: Ingress", "pathType: Prefix", "service:", "rules:"):
    check(need in ing, f"ingress.yaml: {need}")
defined = set(re.findall(r'define "([^"]+)"', tpl["_helpers.tpl"]))
used = set(re.findall(r'(?:include|template) "([^"]+)"', "".join(tpl.values())))
check(f"{name}.name" in defined and f"{name}.fullname" in defined, f"_helpers.tpl defines {name}.name, .fullname")
check(used and used <= defined, f"every template used is defined: missing {sorted(used - defined)}")

for f in fails:
    print("  FAIL", f)
print(f"  {n} checks, {len(fails)} failed")
sys.exit(1 if fails else 0)
EOF

# mkproj LANG FOLDER: a small project of that language
mkproj() {
	mkdir -p "$2"
	case $1 in
	node)
		echo '{"name": "@acme/Shop_Front", "scripts": {"start": "node server.js"}}' >"$2/package.json"
		echo 'require("http").createServer((q, s) => s.end("hi")).listen(process.env.PORT)' >"$2/server.js"
		;;
	python)
		echo flask >"$2/requirements.txt"
		echo 'print("hi")' >"$2/app.py"
		;;
	go)
		printf 'module example.com/catalog\n\ngo 1.22\n' >"$2/go.mod"
		printf 'package main\n\nfunc main() {}\n' >"$2/main.go"
		;;
	java)
		cat >"$2/pom.xml" <<'POM'
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>orders</artifactId>
  <version>1.0.0</version>
  <properties><java.version>17</java.version></properties>
</project>
POM
		;;
	dotnet)
		cat >"$2/Inventory.Api.csproj" <<'PROJ'
<Project Sdk="Microsoft.NET.Sdk.Web">
  <PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup>
</Project>
PROJ
		;;
	c-make)
		printf 'TARGET = datasvc\nall: $(TARGET)\n$(TARGET): main.c\n\tcc -o $@ main.c\n' >"$2/Makefile"
		echo 'int main(void) { return 0; }' >"$2/main.c"
		;;
	c-cmake)
		printf 'cmake_minimum_required(VERSION 3.16)\nproject(stock C)\nadd_executable(stock main.c)\n' \
			>"$2/CMakeLists.txt"
		echo 'int main(void) { return 0; }' >"$2/main.c"
		;;
	esac
}

# lang folder name port kill detected-as
CASES="node web shop-front 80 node Node.js
python api_py api-py 80 python3 Python
go catalog catalog 80 catalog Go
java orders-svc orders 8080 java Java-with-Maven
dotnet inventory inventory-api 80 dotnet .NET
c-make data data 80 datasvc C-with-Make
c-cmake stock stock 80 stock C-with-CMake"

HAVE_HELM=0
command -v helm >/dev/null && HAVE_HELM=1

while read -r lang folder name port kill shown; do
	shown=${shown//-/ }
	d="$WORK/$folder"
	mkproj "$lang" "$d"
	if [ "$lang" = go ]; then
		# from inside the folder, with no FOLDER argument
		(cd "$d" && "$AZDS" -i "$INST" prep </dev/null >"$WORK/out" 2>"$WORK/err")
		RC=$?
		OUT=$(cat "$WORK/out")
		ERR=$(cat "$WORK/err")
	else
		az prep "$d"
	fi
	expect_eq "$lang: exit 0 ($ERR)" "$RC" 0
	expect_contains "$lang: says what it detected" "$OUT" "$shown ("
	expect_contains "$lang: and the service's name and port" "$OUT" "service \"$name\""
	expect_contains "$lang: port" "$OUT" "port $port, ingress off"
	missing=""
	for f in $GENERATED $(chart_files "$name"); do
		grep -qxF "wrote $f" <<<"$OUT" || missing="$missing $f"
		[ -f "$d/$f" ] || missing="$missing $f(absent)"
	done
	expect_eq "$lang: names each of the 12 files written" "$missing" ""
	if out=$("$PY" "$WORK/check.py" "$d" "$name" "$port" false "$kill" 2>&1); then
		ok "$lang: the generated files are valid ($(tail -1 <<<"$out" | sed 's/^ *//'))"
	else
		bad "$lang: generated files:"$'\n'"$out"
	fi
	if [ "$HAVE_HELM" = 1 ]; then
		helm lint "$d/charts/$name" >"$WORK/helm" 2>&1 && ok "$lang: helm lint" || bad "$lang: helm lint: $(cat "$WORK/helm")"
		if helm template t "$d/charts/$name" --set ingress.enabled=true >"$WORK/helm" 2>&1 &&
			"$PY" -c 'import sys, yaml; docs = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x]; sys.exit(0 if sorted(d["kind"] for d in docs) == ["Deployment", "Ingress", "Service"] else 1)' "$WORK/helm"; then
			ok "$lang: helm template renders a Deployment, a Service and an Ingress"
		else
			bad "$lang: helm template: $(cat "$WORK/helm")"
		fi
	fi
done <<<"$CASES"
[ "$HAVE_HELM" = 1 ] || echo "note: helm is not on PATH: helm lint and helm template were not run"

# ---- a second run keeps every file, and says so ----
d="$WORK/web"
before=$(files "$d")
az prep "$d"
expect_eq "second run: exit 0" "$RC" 0
missing=""
for f in $GENERATED $(chart_files shop-front); do
	grep -qxF "kept $f (exists)" <<<"$OUT" || missing="$missing $f"
done
expect_eq "second run: names each of the 12 files kept" "$missing" ""
expect_not_contains "second run: writes nothing" "$OUT" "wrote "
expect_contains "second run: says so" "$OUT" "nothing written: every file exists"
expect_eq "second run: every file byte-identical" "$(files "$d")" "$before"

# ---- --enable-ingress, --public, --name, --port ----
d="$WORK/ingress"
mkproj node "$d"
az prep "$d" --enable-ingress --name shop --port 3000
expect_eq "--enable-ingress --name --port: exit 0 ($ERR)" "$RC" 0
expect_contains "--name: said" "$OUT" 'service "shop" (from --name), port 3000, ingress on'
if out=$("$PY" "$WORK/check.py" "$d" shop 3000 true node 2>&1); then
	ok "--enable-ingress flips ingress.enabled; --port reaches EXPOSE, ENV PORT and containerPort"
else
	bad "--enable-ingress/--port: $out"
fi
d="$WORK/public"
mkproj python "$d"
az prep --public "$d"
expect_eq "--public (Dev Spaces' older name): exit 0" "$RC" 0
expect_contains "--public turns ingress on" "$(cat "$d/charts/public/values.yaml")" "  enabled: true"

# ---- a developer's Dockerfile is kept byte for byte ----
d="$WORK/own"
mkproj node "$d"
printf 'FROM node:18\n# mine\nCMD ["node", "mine.js"]\n' >"$d/Dockerfile"
sum=$(sha256sum <"$d/Dockerfile")
az prep "$d"
expect_eq "own Dockerfile: exit 0" "$RC" 0
expect_eq "own Dockerfile: byte-identical afterwards" "$(sha256sum <"$d/Dockerfile")" "$sum"
expect_contains "own Dockerfile: named as kept" "$OUT" "kept Dockerfile (exists)"
expect_contains "own Dockerfile: no Dockerfile.develop beside it" "$OUT" \
	"skipped Dockerfile.develop (Dockerfile exists: azds.yaml develops with it)"
[ -e "$d/Dockerfile.develop" ]
expect_eq "own Dockerfile: Dockerfile.develop absent" "$?" 1
"$PY" - "$d/azds.yaml" >"$WORK/py" 2>&1 <<'EOF'
import sys, yaml
a = yaml.safe_load(open(sys.argv[1]))
dev = a["configurations"]["develop"]
assert "dockerfile" not in dev["build"], dev
assert "command" not in dev["container"], dev
assert dev["container"]["iterate"]["processesToKill"] == ["node"], dev
EOF
expect_eq "own Dockerfile: azds.yaml develops with it, no guessed command ($(cat "$WORK/py"))" "$?" 0

# ---- ambiguity, --lang ----
d="$WORK/mixed"
mkproj node "$d"
printf 'all:\n\techo hi\n' >"$d/Makefile"
az prep "$d"
expect_eq "ambiguous: exit 0" "$RC" 0
expect_contains "ambiguous: says what it found and what it used" "$OUT" \
	"note: found package.json (Node.js), Makefile (C with Make); using Node.js"
d="$WORK/mixed2"
mkproj node "$d"
printf 'all:\n\techo hi\n' >"$d/Makefile"
az prep "$d" --lang c-make
expect_eq "--lang c-make: exit 0 ($ERR)" "$RC" 0
expect_contains "--lang c-make: used" "$OUT" "C with Make (--lang)"
expect_contains "--lang c-make: the Dockerfile runs make" "$(cat "$d/Dockerfile")" "RUN make"

# ---- errors ----
d="$WORK/nothing"
mkdir -p "$d"
echo "# readme" >"$d/README.md"
az prep "$d"
expect_eq "nothing detectable: exit 1" "$RC" 1
expect_contains "nothing detectable: says so" "$ERR" "no project found in $d"
expect_contains "nothing detectable: lists what it looks for" "$ERR" \
	"looks for package.json (Node.js); requirements.txt, pyproject.toml, setup.py or *.py (Python); go.mod (Go); pom.xml (Java with Maven); *.csproj or *.fsproj (.NET); CMakeLists.txt (C with CMake); Makefile (C with Make)"
expect_eq "nothing detectable: nothing written" "$(ls -A "$d")" "README.md"

az prep "$WORK/no-such-folder"
expect_eq "missing folder: exit 1" "$RC" 1
expect_contains "missing folder: says so" "$ERR" "folder $WORK/no-such-folder does not exist"
az prep "$WORK/nothing/README.md"
expect_eq "a file for a folder: exit 1" "$RC" 1
expect_contains "a file for a folder: says so" "$ERR" "is not a folder"

# a folder nobody may read, and one nobody may write in, as uid 65534 (running a copy of azds in
# $WORK, which uid 65534 reaches wherever the build directory is)
cp "$AZDS" "$WORK/azds-copy" && chmod 755 "$WORK/azds-copy"
d="$WORK/locked"
mkproj node "$d"
chmod 700 "$d"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$WORK/azds-copy" -i "$INST" prep "$d" </dev/null >"$WORK/out" 2>"$WORK/err"
expect_eq "unreadable folder: exit 1" "$?" 1
expect_contains "unreadable folder: says so" "$(cat "$WORK/err")" "cannot open folder $d: Permission denied"
chmod 755 "$d"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$WORK/azds-copy" -i "$INST" prep "$d" </dev/null >"$WORK/out" 2>"$WORK/err"
expect_eq "unwritable folder: exit 1" "$?" 1
expect_contains "unwritable folder: says so" "$(cat "$WORK/err")" "cannot write in folder $d: Permission denied"
expect_eq "unwritable folder: nothing written" "$(ls -A "$d" | sort | tr '\n' ' ')" "package.json server.js "

az prep "$WORK/web" --name Bad_Name
expect_eq "bad --name: exit 2" "$RC" 2
expect_contains "bad --name: says why" "$ERR" "--name \"Bad_Name\": must be 1-63 characters of a-z, 0-9 and '-'"
az prep "$WORK/web" --port 70000
expect_eq "bad --port: exit 2" "$RC" 2
az prep "$WORK/web" --lang cobol
expect_eq "bad --lang: exit 2" "$RC" 2
expect_contains "bad --lang: lists the languages" "$ERR" "node|python|go|java|dotnet|c-cmake|c-make"
az prep "$WORK/web" "$WORK/api_py"
expect_eq "two folders: exit 2" "$RC" 2
az prep --help
expect_eq "--help: exit 0" "$RC" 0
expect_contains "--help: usage" "$OUT" "usage: azds [-i INSTANCE] prep [FOLDER]"
expect_contains "--help: --enable-ingress" "$OUT" "--enable-ingress"

# ---- a full disk: the files written are whole, the rest absent, no temporary left ----
d="$WORK/full"
mkproj node "$d.ref"
az prep "$d.ref" --name full
mkdir -p "$d"
unshare -m bash -c '
	mount -t tmpfs -o size=12k tmpfs "$1" || exit 3
	cp "$2/package.json" "$2/server.js" "$1/"
	"$3" -i "$4" prep "$1" --name full >"$5/out" 2>"$5/err"
	echo $? >"$5/rc"
	# what is there, before the mount (and with it every file) goes away
	(cd "$1" && find . -type f | sort) >"$5/left"
	for f in $(cat "$5/left"); do cmp -s "$1/$f" "$2/$f" || echo "$f" >>"$5/differ"; done
' _ "$d" "$d.ref" "$AZDS" "$INST" "$WORK"
case "$(cat "$WORK/rc" 2>/dev/null)" in
3) echo "note: no tmpfs mount here: the full-disk case was not run" ;;
*)
	expect_eq "full disk: exit 1" "$(cat "$WORK/rc")" 1
	expect_contains "full disk: names the file and the cause" "$(cat "$WORK/err")" "No space left on device"
	expect_eq "full disk: every file there is whole (as a full run writes it)" "$(cat "$WORK/differ" 2>/dev/null)" ""
	expect_not_contains "full disk: no temporary file left" "$(cat "$WORK/left")" "azds-prep"
	expect_contains "full disk: some were written before it filled" "$(cat "$WORK/out")" "wrote Dockerfile"
	;;
esac

# ---- no controller: nothing of the instance was started ----
expect_eq "no controller was needed or started" "$(ls /run/azds/$INST 2>/dev/null)" ""

finish
