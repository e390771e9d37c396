# Install layout and the Debian packages (CPack DEB):
#   dwcp-observer      the agent (/usr/sbin), its TLS shim (/usr/lib/dwcp-observer), the probe
#                      profile and the operators' kit (/usr/share/dwcp-observer), the systemd unit,
#                      /etc/default/dwcp-observer, docs
#   libdwcp-hooks0     the hook library (libdwcp_hooks.so.0)
#   dwcp-observer-dev  the hook library's link and archive (libdwcp_hooks.so, .a), its C/C++ headers, pkg-config and
#                      CMake files, the Go binding's source (/usr/share/gocode/src/...)
#
# A package build sets the agent's default profile to the installed one:
#   cmake -S . -B build-pkg -DCMAKE_INSTALL_PREFIX=/usr -DDWCP_BUILD_TESTS=OFF \
#         -DDWCP_BUILD_BENCHMARKS=OFF \
#         -DDWCP_DEFAULT_PROFILE=/usr/share/dwcp-observer/probes/novacron-dwcp.json
#   cmake --build build-pkg --target package-deps && (cd build-pkg && cpack -G DEB)
# (scripts/package.sh does exactly this.)
include(GNUInstallDirs)

set(DWCP_SHARE ${CMAKE_INSTALL_DATADIR}/dwcp-observer)

# systemd unit and its environment file.
install(FILES ${CMAKE_SOURCE_DIR}/configs/deploy/systemd/dwcp-observer.service
        DESTINATION lib/systemd/system COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/default/dwcp-observer
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default COMPONENT agent)

# The operators' kit: scrape configs, alerts, recording rules, Alertmanager, dashboards, deploy
# files, an example web config.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/configs/prometheus ${CMAKE_SOURCE_DIR}/configs/alertmanager
                  ${CMAKE_SOURCE_DIR}/configs/deploy
        DESTINATION ${DWCP_SHARE} COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/configs/docker-compose.monitoring.yml
              ${CMAKE_SOURCE_DIR}/packaging/web-config.example.yml
        DESTINATION ${DWCP_SHARE} COMPONENT agent)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/dashboards/ DESTINATION ${DWCP_SHARE}/dashboards COMPONENT agent
        FILES_MATCHING PATTERN "*.json" PATTERN "*.yml" PATTERN "*.yaml")
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT agent)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT agent
        FILES_MATCHING PATTERN "*.md")

# The hook library (its own package, named after its soname as Debian policy asks) and, in the
# -dev package, the link programs are built against, the archive and the headers.
install(TARGETS dwcp_hooks
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev)
install(TARGETS dwcp_hooks_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(FILES ${CMAKE_SOURCE_DIR}/include/dwcp_observer/hooks.h ${CMAKE_SOURCE_DIR}/include/dwcp_observer/hooks_c.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dwcp_observer COMPONENT dev)
# For programs outside this build: the self-contained archive, pkg-config files, a CMake
# package (find_package(dwcp_hooks CONFIG)), and the Go binding's source where Debian keeps Go
# sources (docs/go-fallback.md: a go.mod `replace` points there).
install(FILES ${CMAKE_BINARY_DIR}/lib/libdwcp_hooks.a DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/pkgconfig-install/dwcp_hooks.pc ${CMAKE_BINARY_DIR}/pkgconfig-install/dwcp_hooks_static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/cmake/dwcp_hooksConfig.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dwcp_hooks COMPONENT dev)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/bindings/go/dwcpmetrics/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/gocode/src/github.com/dwcp-observer/dwcp-observer/bindings/go/dwcpmetrics
        COMPONENT dev PATTERN "*_test.go" EXCLUDE PATTERN "testdata" EXCLUDE)

# Debian metadata of both packages: copyright (DEP-5), the changelog (a native package:
# changelog.gz, compressed without a time stamp), lintian overrides (each says why).
set(DWCP_DEB_DOC_DIR ${CMAKE_BINARY_DIR}/deb-doc)
file(MAKE_DIRECTORY ${DWCP_DEB_DOC_DIR})
execute_process(COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/packaging/debian/changelog
                OUTPUT_FILE ${DWCP_DEB_DOC_DIR}/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/debian/changelog)
foreach(component_package agent:dwcp-observer lib:libdwcp-hooks0 dev:dwcp-observer-dev)
  string(REPLACE ":" ";" pair ${component_package})
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/copyright ${DWCP_DEB_DOC_DIR}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component})
  if(EXISTS ${CMAKE_SOURCE_DIR}/packaging/debian/${package}.lintian-overrides)
    install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/${package}.lintian-overrides
            DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${package} COMPONENT ${component})
  endif()
endforeach()

# The man page, generated from the agent's --help (help2man; run through PATH so that the usage
# line says "dwcp-observer", not the build path). scripts/package.sh builds dwcp-observer-man.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(DWCP_MAN ${CMAKE_BINARY_DIR}/man/dwcp-observer.8)
  add_custom_command(
    OUTPUT ${DWCP_MAN}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${CMAKE_COMMAND} -E env "PATH=$<TARGET_FILE_DIR:dwcp-observer>:$ENV{PATH}" ${HELP2MAN} --no-info
            --no-discard-stderr --section=8 --version-string=${PROJECT_VERSION}
            "--name=eBPF observer of DWCP serving Prometheus metrics"
            --include=${CMAKE_SOURCE_DIR}/packaging/debian/dwcp-observer.h2m --output=${DWCP_MAN} dwcp-observer
    COMMAND gzip -9nf ${DWCP_MAN}
    DEPENDS dwcp-observer ${CMAKE_SOURCE_DIR}/packaging/debian/dwcp-observer.h2m
    VERBATIM)
  add_custom_target(dwcp-observer-man DEPENDS ${DWCP_MAN}.gz)
  install(FILES ${DWCP_MAN}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT agent OPTIONAL)
endif()

# --- CPack: three Debian packages ---
set(CPACK_PACKAGE_NAME dwcp-observer)
set(CPACK_PACKAGE_VENDOR "dwcp-observer")
# The project's list, not a person (the same address as packaging/debian/changelog).
set(CPACK_PACKAGE_CONTACT "dwcp-observer maintainers <maintainers@dwcp-observer.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF observer of DWCP serving Prometheus metrics")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent lib dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
if(CMAKE_CROSSCOMPILING)
  # dpkg-shlibdeps reads this machine's dpkg database, which holds no arm64 libraries: a cross
  # build is given its Depends (scripts/package-arm64.sh reads them from the sysroot's packages).
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(DWCP_DEB_DEPENDS "${DWCP_CROSS_AGENT_DEPENDS}, ")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the shared libraries (dpkg-shlibdeps)
  set(DWCP_DEB_DEPENDS "")
endif()
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)  # libdwcp-hooks0's shlibs file (the agent has no soname'd library)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/dwcp-observer/dwcp-observer")
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME dwcp-observer)
set(CPACK_DEBIAN_AGENT_DESCRIPTION
    "The node agent attaches uprobes to an unmodified DWCP process and serves the\n dwcp_* metric families on /metrics; with the operators' kit (alerts, recording\n rules, Grafana dashboard, systemd unit, Kubernetes manifests).")
# adduser: postinst creates the dwcp-observer system user (the agent's default --user).
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "${DWCP_DEB_DEPENDS}adduser")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_LIB_PACKAGE_NAME libdwcp-hooks0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_DESCRIPTION
    "libdwcp_hooks: DWCP feeds the dwcp_* metrics model from inside the process\n where eBPF is not allowed (the hook library's run-time part).")
# triggers: ldconfig (activate-noawait) instead of the ldconfig calls CPack writes into postinst and
# postrm when a package has none (hence the two empty scripts, and their lintian override).
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/debian/libdwcp-hooks0/triggers
    ${CMAKE_SOURCE_DIR}/packaging/debian/libdwcp-hooks0/postinst ${CMAKE_SOURCE_DIR}/packaging/debian/libdwcp-hooks0/postrm)
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME dwcp-observer-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${DWCP_DEB_DEPENDS}libdwcp-hooks0 (= ${PROJECT_VERSION})")
if(CMAKE_CROSSCOMPILING)
  set(CPACK_DEBIAN_LIB_PACKAGE_DEPENDS "${DWCP_CROSS_AGENT_DEPENDS}")
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "libdwcp_hooks and its C and C++ headers: DWCP feeds the same metrics model\n from inside the process where eBPF is not allowed.")
include(CPack)
