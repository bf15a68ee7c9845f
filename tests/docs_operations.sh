#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/operations.md says what the code does: every flag in its command
# synopsis is one the tool accepts, every bound in its limits table is the
# one the tool enforces, and the instance-name rule is the one applied.
# usage: docs_operations.sh BUILD_BIN_DIR [OPERATIONS.md]
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR [OPERATIONS.md]}
DOC=${2:-$(dirname "$0")/../docs/operations.md}
INST=${AZDS_TEST_PREFIX:-}itdocs
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
cleanup() { "$BIN/azds-controller" -i "$INST" stop >/dev/null 2>&1; }
trap cleanup EXIT

# the synopsis: the indented block under "## Commands"
synopsis=$(awk '/^## Commands/ { on = 1; next } /^## / { on = 0 } on && /^    / { print }' "$DOC")
[ -n "$synopsis" ] && ok "the synopsis is there" || bad "no synopsis under ## Commands in $DOC"

# every --flag of a tool's synopsis lines is in that tool's --help
for tool in azds-controller azds-init azds-router azds; do
	help=$("$BIN/$tool" --help 2>&1)
	# a line that does not start with a tool's name continues the one above
	flags=$(echo "$synopsis" | awk -v t="$tool" '$1 ~ /^azds/ { cur = $1 } cur == t' | grep -o -- '--[a-z][a-z-]*' | sort -u)
	for f in $flags; do
		[ "$f" = --help ] && continue
		# the whole flag: --sockmap is not --no-sockmap
		if echo "$help" | grep -qE -- "(^|[^a-z-])$f([^a-z-]|\$)"; then
			ok "$tool $f (synopsis) is in $tool --help"
		else
			bad "$tool $f (synopsis) is not in $tool --help"
		fi
	done
done
# and every verb of the controller's synopsis is one it knows
for v in start stop status set space service pod; do
	echo "$synopsis" | grep -q "azds-controller \[-i INST\] .*\b$v\b" && ok "synopsis has controller verb $v" ||
		bad "synopsis lacks controller verb $v"
done

# the limits table: "`start --max-X` (LO..HI)" and "`--router-arg --X` (LO..HI)" /
# "`--X` (LO..HI)" bounds are the ones the tools refuse outside of
while IFS=$'\t' read -r tool flag lo hi; do
	[ -n "$flag" ] || continue
	for v in $((lo - 1)) $((hi + 1)); do
		[ "$v" -lt 0 ] && continue
		if [ "$tool" = start ]; then
			msg=$("$BIN/azds-controller" -i "$INST" start --no-router "$flag" "$v" 2>&1)
		else
			msg=$("$BIN/azds-router" --instance "$INST" "$flag" "$v" 2>&1)
		fi
		case "$msg" in
		*"must be a number in $lo..$hi"*) ok "$tool $flag $v refused, bounds $lo..$hi as documented" ;;
		*) bad "$tool $flag $v: expected 'must be a number in $lo..$hi', got [$msg]" ;;
		esac
	done
done < <(awk '/^## Limits/ { on = 1; next } /^## / { on = 0 } on && /^\|/' "$DOC" |
	grep -o '`[^`]*--[a-z-]*` ([0-9]*\.\.[0-9]*' |
	sed -E 's/^`(start |--router-arg )?(--[a-z-]+)` \(([0-9]+)\.\.([0-9]+)$/\1\t\2\t\3\t\4/' |
	awk -F'\t' '{ print ($1 == "start " ? "start" : "router") "\t" $2 "\t" $3 "\t" $4 }')
checked=$(awk '/^## Limits/ { on = 1; next } /^## / { on = 0 } on' "$DOC" | grep -c '([0-9]*\.\.[0-9]*')
[ "$checked" -ge 6 ] && ok "the limits table gives bounds ($checked rows)" || bad "the limits table gives $checked bounds"

# instance names: what the doc allows is accepted, what it refuses is refused
rule=$(awk '/^## Instances/ { on = 1; next } /^## / { on = 0 } on' "$DOC" | tr '\n' ' ')
case "$rule" in
*'1-12 characters of `a-z` and `0-9`, nothing else'*) ok "the doc's instance rule: 1-12 of a-z0-9" ;;
*) bad "the doc's instance rule is not '1-12 characters of a-z and 0-9, nothing else'" ;;
esac
for name in a-b ABC abcdefghijklm; do
	msg=$("$BIN/azds-controller" -i "$name" status 2>&1)
	case "$msg" in
	*"1-12 characters of a-z and 0-9"*) ok "instance \"$name\" refused" ;;
	*) bad "instance \"$name\": expected a refusal, got [$msg]" ;;
	esac
done
# an empty name is no name: never the default instance (a purge of "$UNSET")
for tool in azds azds-controller azds-init; do
	case $tool in azds) args=(space list) ;; azds-controller) args=(status) ;; *) args=(del --pod x) ;; esac
	msg=$("$BIN/$tool" -i "" "${args[@]}" 2>&1)
	case "$msg" in
	*'instance "": 1-12 characters of a-z and 0-9'*) ok "$tool -i \"\" refused" ;;
	*) bad "$tool -i \"\": expected a refusal, got [$msg]" ;;
	esac
	msg=$(AZDS_INSTANCE= "$BIN/$tool" "${args[@]}" 2>&1)
	case "$msg" in
	*'instance "": 1-12 characters of a-z and 0-9'*) ok "$tool with an empty \$AZDS_INSTANCE refused" ;;
	*) bad "$tool with an empty \$AZDS_INSTANCE: expected a refusal, got [$msg]" ;;
	esac
done
# azds-init says what was wrong, before it looks at the instance
msg=$("$BIN/azds-init" -i zzinst frob --pod x 2>&1); rc=$?
[ $rc = 2 ] && [[ "$msg" == *'azds-init: unknown command "frob"'* ]] && ok "azds-init: an unknown command, exit 2" ||
	bad "azds-init frob: exit $rc [$msg]"
msg=$("$BIN/azds-init" -i zzinst add --zzbogus 2>&1); rc=$?
[ $rc = 2 ] && [[ "$msg" == 'azds-init: add: unknown option or missing value "--zzbogus"'* ]] &&
	ok "azds-init: an unknown option, exit 2, not under the instance's name" || bad "azds-init add --zzbogus: exit $rc [$msg]"
msg=$("$BIN/azds-init" -i zzinst 2>&1); rc=$?
[ $rc = 2 ] && [[ "$msg" == *"a command is needed after -i NAME"*usage:* ]] && ok "azds-init -i NAME alone: usage, exit 2" ||
	bad "azds-init -i NAME: exit $rc [$msg]"
msg=$("$BIN/azds-controller" -i abcdefghijkl status 2>&1)
case "$msg" in
*"1-12 characters"*) bad "instance \"abcdefghijkl\" (12 characters) refused: [$msg]" ;;
*) ok "instance \"abcdefghijkl\" (12 characters) accepted as a name" ;;
esac
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
