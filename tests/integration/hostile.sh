#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile and ambiguous HTTP is refused with the right status and a closed
# connection, and never reaches a backend.
INST=${AZDS_TEST_PREFIX:-}ithostile
[ "${SOCKMAP:-on}" = off ] && INST=${AZDS_TEST_PREFIX:-}ithsock
[ "${SOCKMAP:-on}" = nopods ] && INST=${AZDS_TEST_PREFIX:-}ithpods
. "$(dirname "$0")/lib.sh"
setup_topology
# sk_msg redirection is on by default; SOCKMAP=off runs the same checks
# through the TCP stack only
if [ "${SOCKMAP:-on}" = off ]; then
	$CTL set sockmap off
	expect_contains "sockmap switch off" "$($CTL status)" "sockmap=off"
fi
if [ "${SOCKMAP:-on}" = nopods ]; then
	$CTL set sockmap-pods off
	expect_contains "sockmap-pods switched off" "$($CTL status)" "sockmap-pods=off"
fi
API=$(vip api)

# send RAW-PRINTF-FORMAT: raw bytes from the web pod to api's virtual address
send() { printf "$1" | in_pod web "$BIN/azds-probe" raw "$API" --timeout 5 2>&1; }

check() { # NAME STATUS RAW
	local r
	r=$(send "$3")
	expect_contains "$1 -> $2" "$r" "HTTP/1.1 $2"
	expect_not_contains "$1: never reached a backend" "$r" "X-Pod:"
}

check "Content-Length with Transfer-Encoding" 400 \
	'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
check "differing duplicate Content-Length" 400 \
	'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
check "Content-Length list that differs" 400 \
	'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 5, 6\r\n\r\nhello!'
check "Transfer-Encoding not ending in chunked" 400 \
	'POST / HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'
check "obs-fold" 400 \
	'GET / HTTP/1.1\r\nHost: api\r\nX-A: 1\r\n folded\r\n\r\n'
check "bare LF in the head" 400 \
	'GET / HTTP/1.1\nHost: api\r\n\r\n'
check "bare CR in the head" 400 \
	'GET / HTTP/1.1\r\nHost: api\rX: y\r\n\r\n'
check "space before colon" 400 \
	'GET / HTTP/1.1\r\nHost : api\r\n\r\n'
check "non-numeric Content-Length" 400 \
	'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 1x\r\n\r\nx'
check "HTTP/1.1 without Host" 400 \
	'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n'
check "NUL byte in a header value" 400 \
	'GET / HTTP/1.1\r\nHost: api\r\nX-A: a\0b\r\n\r\n'
check "two Host headers" 400 \
	'GET / HTTP/1.1\r\nHost: api\r\nHost: evil\r\n\r\n'
r=$(send 'POST /echo HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n')
expect_contains "bad chunk size -> 400" "$r" "HTTP/1.1 400"

# oversized head and too many headers: 431
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
check "head over the 16 KiB limit" 431 "GET / HTTP/1.1\r\nHost: api\r\nX-Big: $big\r\n\r\n"
many=$(for i in $(seq 1 150); do printf 'X-H%d: v\\r\\n' "$i"; done)
check "more than 100 headers" 431 "GET / HTTP/1.1\r\nHost: api\r\n$many\r\n"
check "declared body over the limit" 413 \
	'POST / HTTP/1.1\r\nHost: api\r\nContent-Length: 99999999999999\r\n\r\n'

# after a refusal the connection is closed: a request behind it is not served
r=$(send 'GET / HTTP/1.1\r\nHost: api\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: api\r\n\r\n')
expect_not_contains "no request is served after a refusal" "$r" "path=/smuggled"

# a slow client (slowloris): the head never completes; the router answers 408
# after its header timeout and closes (the assertion is on the answer, the
# probe merely waits long enough)
r=$(printf 'GET / HTTP/1.1\r\nHost: api\r\nX-Slow: ' |
	in_pod web "$BIN/azds-probe" raw "$API" --no-shutdown --timeout 30 2>&1)
expect_contains "slow client gets 408 and a closed connection" "$r" "HTTP/1.1 408"

# a valid request still works and the router survived all of the above
r=$(probe web get api:80 / -H 'azds-route-as: alice')
expect_contains "router still serving" "$r" "pod=api-alice"
served_after=$(grep -c 'smuggled' "$WORK/api-dev.log" "$WORK/api-alice.log" 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')
expect_eq "backends never saw a smuggled request" "$served_after" "0"

finish
