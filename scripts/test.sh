#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's test command: install what is missing, build, run every
# test (BPF unit tests, parser tests under ASan/UBSan, the bounded fuzz run,
# integration tests with real pods). Must run as root.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure "$@"
