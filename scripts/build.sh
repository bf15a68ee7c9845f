#!/bin/sh
# SPDX-License-Identifier: MIT
# Configure and build azds into ./build (binaries in build/bin).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
