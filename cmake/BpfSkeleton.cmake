# bpf_skeleton(NAME SOURCE): X.bpf.c -> X.bpf.o (clang -target bpf) -> X.skel.h (bpftool gen
# skeleton) -> INTERFACE library NAME_skel that the agent links. Sources include bpf/'s headers
# (bpf/<arch>/vmlinux.h, the *.bpf.h parts of the observer) wherever they are: the BPF unit tier's test
# object (tests/bpf/) runs the observer's own inline code.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

file(GLOB DWCP_BPF_HEADERS ${CMAKE_SOURCE_DIR}/bpf/*.h)

# Programs are built for the architecture the agent runs on: libbpf's __TARGET_ARCH_* picks the
# pt_regs layout (uprobe_handler.bpf.h), bpf/<arch>/vmlinux.h that kernel's types.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(DWCP_BPF_ARCH arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(DWCP_BPF_ARCH x86)
else()
  message(FATAL_ERROR "BPF programs: no vmlinux.h for ${CMAKE_SYSTEM_PROCESSOR} (bpf/x86, bpf/arm64)")
endif()

function(bpf_skeleton name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${DWCP_BPF_ARCH} -Wall -Werror
            -I${CMAKE_CURRENT_SOURCE_DIR} -I${CMAKE_SOURCE_DIR}/bpf/${DWCP_BPF_ARCH} -I${CMAKE_SOURCE_DIR}/bpf -I${CMAKE_SOURCE_DIR}/include
            -c ${source} -o ${obj}
    DEPENDS ${source} ${ARGN} ${DWCP_BPF_HEADERS} ${CMAKE_SOURCE_DIR}/bpf/${DWCP_BPF_ARCH}/vmlinux.h ${CMAKE_SOURCE_DIR}/include/dwcp_observer/events.h
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF ZLIB::ZLIB dwcp_contract)
endfunction()
