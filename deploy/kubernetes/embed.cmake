# SPDX-License-Identifier: MIT
# Embeds deploy/kubernetes/azds.yaml and deploy/kubernetes/teardown/teardown.yaml
# into azds (cli/k8s_deploy.c applies the first on `azds controller install`
# and runs the second on `uninstall`) and takes the DaemonSet's image as the
# default of `azds image build`: one place names the image (both files must
# name the same). Included from cli/CMakeLists.txt; sets AZDS_DEPLOY_C (the
# generated source) and AZDS_IMAGE_REF. A change to either YAML reconfigures.
set(AZDS_DEPLOY_C ${CMAKE_CURRENT_BINARY_DIR}/azds_deploy_yaml.c)
set(_azds_c "/* generated from deploy/kubernetes/ by deploy/kubernetes/embed.cmake */\n#include <stddef.h>\n")
set(_azds_refs "")
foreach(_azds_pair "azds_deploy_yaml=azds.yaml" "azds_teardown_yaml=teardown/teardown.yaml")
  string(REGEX REPLACE "=.*" "" _azds_sym "${_azds_pair}")
  string(REGEX REPLACE ".*=" "" _azds_rel "${_azds_pair}")
  set(_azds_yaml ${CMAKE_CURRENT_LIST_DIR}/${_azds_rel})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_azds_yaml})
  file(READ ${_azds_yaml} _azds_hex HEX)
  string(LENGTH "${_azds_hex}" _azds_n)
  math(EXPR _azds_n "${_azds_n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _azds_hex "${_azds_hex}")
  file(STRINGS ${_azds_yaml} _azds_img REGEX "^ +image: localhost/azds/azds:")
  list(LENGTH _azds_img _azds_nimg)
  if(NOT _azds_nimg EQUAL 1)
    message(FATAL_ERROR "deploy/kubernetes/${_azds_rel}: want exactly one image: localhost/azds/azds:<version> line")
  endif()
  string(REGEX REPLACE "^ +image: *([^ ]+).*" "\\1" _azds_ref "${_azds_img}")
  list(APPEND _azds_refs ${_azds_ref})
  string(APPEND _azds_c "const char ${_azds_sym}[] = {${_azds_hex}0};\n"
         "const size_t ${_azds_sym}_len = ${_azds_n};\n")
endforeach()
list(GET _azds_refs 0 AZDS_IMAGE_REF)
list(REMOVE_DUPLICATES _azds_refs)
list(LENGTH _azds_refs _azds_nrefs)
if(NOT _azds_nrefs EQUAL 1)
  message(FATAL_ERROR "deploy/kubernetes/: azds.yaml and teardown/teardown.yaml name different images: ${_azds_refs}")
endif()
file(WRITE ${AZDS_DEPLOY_C}.new "${_azds_c}")
# rewritten only when it changed: no rebuild on every configure
configure_file(${AZDS_DEPLOY_C}.new ${AZDS_DEPLOY_C} COPYONLY)
