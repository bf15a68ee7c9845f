#!/bin/bash
# SPDX-License-Identifier: MIT
# The README's first command, the demo (scripts/demo.sh), with this build's
# binaries, under an instance and an ingress port of its own: the bikeshop
# up in dev and alice's api in dev/alice, the routed chain checked, and
# azds trace's multi-hop trace of alice's request through the ingress
# checked hop by hop (each hop's space and why). The demo checks its own
# story and purges its instance when it ends, also after a crashed run.
set -u
BIN=${1:?usage: $0 BUILD_BIN_DIR}
BIN=$(cd "$BIN" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
INST=${AZDS_TEST_PREFIX:-}itdemo
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	{ echo "FAIL no free port"; exit 1; }
OUT=$(AZDS_DEMO_BIN=$BIN AZDS_DEMO_INSTANCE=$INST AZDS_DEMO_INGRESS_PORT=$PORT "$SRC/scripts/demo.sh" 2>&1)
RC=$?
PASS=0 FAIL=0
check() { # LABEL CONDITION...
	local label=$1
	shift
	if "$@"; then PASS=$((PASS + 1)); echo "ok   $label"; else FAIL=$((FAIL + 1)); echo "FAIL $label"; fi
}
check "the demo ran to its end (exit $RC)" [ "$RC" -eq 0 ]
check "alice's request met her api, dev's came on" \
	grep -qF "chain:    web (dev) -> api (dev/alice) -> data (dev)" <<<"$OUT"
check "... with her greeting" grep -qF "greeting: Hello from alice's space!" <<<"$OUT"
check "everyone else's request got dev's api" grep -qF "chain:    web (dev) -> api (dev) -> data (dev)" <<<"$OUT"
for hop in "ingress -> web@dev (fell back to dev)" "web -> api@dev/alice (own)" "api -> data@dev (fell back to dev)"; do
	check "azds trace printed the hop $hop" grep -qF "$hop" <<<"$OUT"
done
gone() { [ ! -e "/run/azds/$INST" ] && [ ! -e "/sys/fs/bpf/azds/$INST" ] && ! ip netns list | grep -q "$INST"; }
check "nothing of the instance is left (run dir, pins, namespaces)" gone
if [ "$FAIL" -gt 0 ]; then
	echo "--- the demo's output:"
	printf '%s\n' "$OUT" | tail -40
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
