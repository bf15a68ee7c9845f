# SPDX-License-Identifier: MIT
# The supervisor (controller/supervise.c, shim.c) alone, with real shims
# and processes. The router unit under the daemon is tested end to end by
# tests/integration/router_restart.sh (tests/CMakeLists.txt).
add_executable(test_supervise test_supervise.c)
target_link_libraries(test_supervise PRIVATE azds_sup)
add_test(NAME controller_supervise COMMAND test_supervise)
set_tests_properties(controller_supervise PROPERTIES TIMEOUT 300)
