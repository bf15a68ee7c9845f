# SPDX-License-Identifier: MIT
# The checks of the Kubernetes-mode tests, sourced: each counts into the
# caller's pass and fail, and prints "ok ..." or "not ok ...".
ok() { pass=$((pass + 1)); echo "ok $*"; }
notok() { fail=$((fail + 1)); echo "not ok $*"; }
# expect WHAT PATTERN OUTPUT: OUTPUT holds PATTERN (grep -E)
expect() {
	if grep -Eq -- "$2" <<<"$3"; then ok "$1"; else notok "$1: wanted /$2/ in: $3"; fi
}
expect_not() {
	if grep -Eq -- "$2" <<<"$3"; then notok "$1: did not want /$2/ in: $3"; else ok "$1"; fi
}
# expect_eq WHAT GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: wanted [$3], got [$2]"; fi
}
