# SPDX-License-Identifier: MIT
# The supervisor (controller/supervise.c, shim.c) alone, with real shims
# and processes; and the harness that runs the router unit (routerd.c)
# for tests/integration/router_restart.sh until the daemon does.
add_executable(test_supervise test_supervise.c)
target_link_libraries(test_supervise PRIVATE azds_sup)
add_test(NAME controller_supervise COMMAND test_supervise)
set_tests_properties(controller_supervise PROPERTIES TIMEOUT 300)
add_executable(routerd_harness routerd_harness.c)
target_link_libraries(routerd_harness PRIVATE azds_sup)
# The router under 1,000 req/s through kill -9 and restart (needs root).
add_test(NAME integration_router_restart
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/../integration/router_restart.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(integration_router_restart PROPERTIES TIMEOUT 600)
