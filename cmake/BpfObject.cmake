# SPDX-License-Identifier: MIT
# bpf_object(NAME SRC [DEPENDS hdr...]): compiles SRC with clang -target bpf
# over a vmlinux.h generated from this kernel's BTF, generates a libbpf
# skeleton NAME.skel.h with bpftool, and exposes INTERFACE target NAME_skel.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(AZDS_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
set(AZDS_VMLINUX_H ${AZDS_VMLINUX_DIR}/vmlinux.h)
set(AZDS_BTF_SOURCE /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF used to generate vmlinux.h")
add_custom_command(
  OUTPUT ${AZDS_VMLINUX_H}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${AZDS_VMLINUX_DIR}
  COMMAND ${BPFTOOL} btf dump file ${AZDS_BTF_SOURCE} format c > ${AZDS_VMLINUX_H}.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${AZDS_VMLINUX_H}.tmp ${AZDS_VMLINUX_H}
  COMMENT "Generating vmlinux.h from ${AZDS_BTF_SOURCE}"
  VERBATIM)
add_custom_target(vmlinux_h DEPENDS ${AZDS_VMLINUX_H})

function(bpf_object name src)
  cmake_parse_arguments(BO "" "" "DEPENDS" ${ARGN})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  set(arch x86)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64")
    set(arch arm64)
  endif()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${arch}
            -Wall -Wextra -Werror -Wno-unused-parameter
            -I${AZDS_VMLINUX_DIR} -I${CMAKE_CURRENT_SOURCE_DIR}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${BO_DEPENDS}
    COMMENT "BPF ${src}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  # vmlinux.h is produced by a target of the top directory
  add_dependencies(${name}_skel_gen vmlinux_h)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF PkgConfig::ZLIB)
endfunction()
