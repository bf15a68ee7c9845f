# SPDX-License-Identifier: MIT
# Embeds deploy/kubernetes/azds.yaml into azds (cli/k8s_deploy.c applies it
# on `azds controller install`) and takes the DaemonSet's image as the
# default of `azds image build`: one place names the image. Included from
# cli/CMakeLists.txt; sets AZDS_DEPLOY_C (the generated source) and
# AZDS_IMAGE_REF. A change to the YAML reconfigures.
set(_azds_yaml ${CMAKE_CURRENT_LIST_DIR}/azds.yaml)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_azds_yaml})
file(READ ${_azds_yaml} _azds_hex HEX)
string(LENGTH "${_azds_hex}" _azds_n)
math(EXPR _azds_n "${_azds_n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _azds_hex "${_azds_hex}")
file(STRINGS ${_azds_yaml} _azds_img REGEX "^ +image: localhost/azds/azds:")
list(LENGTH _azds_img _azds_nimg)
if(NOT _azds_nimg EQUAL 1)
  message(FATAL_ERROR "deploy/kubernetes/azds.yaml: want exactly one image: localhost/azds/azds:<version> line")
endif()
string(REGEX REPLACE "^ +image: *([^ ]+).*" "\\1" AZDS_IMAGE_REF "${_azds_img}")
set(AZDS_DEPLOY_C ${CMAKE_CURRENT_BINARY_DIR}/azds_deploy_yaml.c)
file(WRITE ${AZDS_DEPLOY_C}.new
     "/* generated from deploy/kubernetes/azds.yaml by deploy/kubernetes/embed.cmake */\n"
     "#include <stddef.h>\n"
     "const char azds_deploy_yaml[] = {${_azds_hex}0};\n"
     "const size_t azds_deploy_yaml_len = ${_azds_n};\n")
# rewritten only when it changed: no rebuild on every configure
configure_file(${AZDS_DEPLOY_C}.new ${AZDS_DEPLOY_C} COPYONLY)
