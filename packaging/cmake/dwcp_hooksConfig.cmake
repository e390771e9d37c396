# find_package(dwcp_hooks CONFIG) for the installed hook library (dwcp-observer-dev):
#   dwcp_hooks::dwcp_hooks         libdwcp_hooks.so with its headers
#   dwcp_hooks::dwcp_hooks_static  libdwcp_hooks.a (self-contained) with its shared dependencies
# Paths are relative to this file, so a package installed under another prefix works too.
get_filename_component(_dwcp_hooks_prefix "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
get_filename_component(_dwcp_hooks_libdir "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
find_package(Threads REQUIRED)

if(NOT TARGET dwcp_hooks::dwcp_hooks)
  add_library(dwcp_hooks::dwcp_hooks SHARED IMPORTED)
  set_target_properties(dwcp_hooks::dwcp_hooks PROPERTIES
    IMPORTED_LOCATION "${_dwcp_hooks_libdir}/libdwcp_hooks.so"
    INTERFACE_INCLUDE_DIRECTORIES "${_dwcp_hooks_prefix}/include")
  add_library(dwcp_hooks::dwcp_hooks_static STATIC IMPORTED)
  set_target_properties(dwcp_hooks::dwcp_hooks_static PROPERTIES
    IMPORTED_LOCATION "${_dwcp_hooks_libdir}/libdwcp_hooks.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_dwcp_hooks_prefix}/include"
    IMPORTED_LINK_INTERFACE_LANGUAGES CXX
    INTERFACE_LINK_LIBRARIES
      "-l:libprometheus-cpp-core.so.1.0;-l:libcivetweb.so.1;-l:libssl.so.3;-l:libcrypto.so.3;-l:libcrypt.so.1;-l:libz.so.1;Threads::Threads")
endif()
set(dwcp_hooks_FOUND TRUE)
unset(_dwcp_hooks_prefix)
unset(_dwcp_hooks_libdir)
