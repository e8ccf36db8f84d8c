# Packaging.cmake: what `cmake --install` puts where besides the programs and
# the plugin (their rules are in tools/*/ and plugin/), and the Debian package
# that `cpack` builds from the same rules. docs/packaging.md explains the
# layout; tests/package/test_package.sh installs, uses and purges the .deb.
#
# Two kinds of destinations:
#  - below the prefix (relative): programs, plugin, man pages, documentation,
#    /usr/share/exigrey. cpack installs with the prefix /usr.
#  - system paths (absolute, DESTDIR honoured): /etc/exigrey, /etc/exim4,
#    /etc/default, /etc/cron.d, the systemd units. The programs read
#    /etc/exigrey/exigrey.conf whatever the prefix, so it goes there. A hand
#    install (no DESTDIR) never overwrites an existing file in /etc (and
#    skips /etc when not run as root), and puts
#    the units in PREFIX/lib/systemd/system (systemd reads
#    /usr/local/lib/systemd/system too) with PREFIX/sbin in ExecStart.
#    -DEXIGREY_INSTALL_SYSTEM_FILES=OFF leaves all of them out.

option(EXIGREY_INSTALL_SYSTEM_FILES
  "Install settings in /etc, Exim snippets, cron job and systemd units" ON)

set(_pkg ${PROJECT_SOURCE_DIR}/packaging)
set(_ex ${PROJECT_SOURCE_DIR}/examples)
set(_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/exigrey)

# ---- man pages, compressed (Debian policy 12.1) -------------------------------
find_program(EXIGREY_GZIP gzip REQUIRED)
set(_man_out)
foreach(page exigrey.1 exigrey-acl.7 exigrey-forward.8 exigrey-collect.8)
  set(_gz ${CMAKE_CURRENT_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${_gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
    COMMAND ${EXIGREY_GZIP} -9n -c ${PROJECT_SOURCE_DIR}/docs/${page} > ${_gz}
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/${page} VERBATIM)
  list(APPEND _man_out ${_gz})
  string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" _section ${page})
  install(FILES ${_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section})
endforeach()

# ---- documentation and examples -------------------------------------------------
# The Debian changelog of a native package: one entry per version, made here.
# (string(TIMESTAMP) honours SOURCE_DATE_EPOCH for reproducible packages.)
string(TIMESTAMP _changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(EXIGREY_MAINTAINER "exigrey maintainers <maintainers@users.noreply.r-seed-52df6898.example>")
configure_file(${_pkg}/changelog.in ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog.gz
  COMMAND ${EXIGREY_GZIP} -9n -c ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog
          > ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog.gz
  DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog VERBATIM)
add_custom_target(exigrey_install_data ALL
  DEPENDS ${_man_out} ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog.gz)

install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_pkg}/copyright
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/changelog.gz DESTINATION ${_docdir})
file(GLOB _docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${_docs} DESTINATION ${_docdir})
# Examples as documentation: plain files, never executable there.
install(DIRECTORY ${_ex}/ DESTINATION ${_docdir}/examples
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${_pkg}/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides
  RENAME exigrey)

# The Exim macros the switch in conf.d/main/005_exigrey (or a line in
# exim4.conf.localmacros) includes: package-owned, not a conffile; settings
# are overridden by defining the macros earlier.
install(FILES ${_ex}/debian/conf.d/main/000_exigrey_localmacros
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/exigrey/exim4 RENAME exigrey.macros)

# ---- system files -----------------------------------------------------------------
# Each is "SOURCE|DESTINATION|kind"; kind conf: kept if present on a hand install.
set(EXIGREY_CONFFILES
  "${_ex}/exigrey.conf|/etc/exigrey/exigrey.conf"
  "${_ex}/rbldnsd/exigrey-collect.conf|/etc/exigrey/collect.conf"
  "${_pkg}/default/exigrey-forward|/etc/default/exigrey-forward"
  "${_pkg}/cron.d/exigrey|/etc/cron.d/exigrey"
  "${_ex}/debian/exigrey_check_rcpt|/etc/exim4/exigrey_check_rcpt"
  "${_pkg}/exim4/005_exigrey|/etc/exim4/conf.d/main/005_exigrey")
set(EXIGREY_UNITS
  ${_ex}/systemd/exigrey-forward.service
  ${_ex}/systemd/exigrey-collect.service
  ${_ex}/systemd/exigrey-purge.service
  ${_ex}/systemd/exigrey-purge.timer
  ${_ex}/systemd/exigrey-flush.service
  ${_ex}/systemd/exigrey-flush.timer
  ${_ex}/systemd/exigrey-store.service)

if(EXIGREY_INSTALL_SYSTEM_FILES)
  foreach(entry IN LISTS EXIGREY_CONFFILES)
    string(REPLACE "|" ";" entry "${entry}")
    list(GET entry 0 _src)
    list(GET entry 1 _dst)
    install(CODE "
      set(_dst \"\$ENV{DESTDIR}${_dst}\")
      execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(EXISTS \"\${_dst}\" AND \"\$ENV{DESTDIR}\" STREQUAL \"\")
        message(STATUS \"Keeping: \${_dst} (exists; new version not installed)\")
      elseif(NOT _uid STREQUAL \"0\" AND \"\$ENV{DESTDIR}\" STREQUAL \"\")
        message(STATUS \"Skipping: \${_dst} (not root; set DESTDIR to stage it)\")
      else()
        message(STATUS \"Installing: \${_dst}\")
        get_filename_component(_dir \"\${_dst}\" DIRECTORY)
        file(MAKE_DIRECTORY \"\${_dir}\")
        file(COPY_FILE \"${_src}\" \"\${_dst}\")
        file(CHMOD \"\${_dst}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
      endif()")
  endforeach()
  # Units: /lib/systemd/system for the prefix /usr (Debian 12), else
  # PREFIX/lib/systemd/system; ExecStart names PREFIX/sbin or PREFIX/bin.
  foreach(_unit IN LISTS EXIGREY_UNITS)
    get_filename_component(_name ${_unit} NAME)
    install(CODE "
      if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
        set(_dir \"\$ENV{DESTDIR}/lib/systemd/system\")
      else()
        set(_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
      endif()
      file(READ \"${_unit}\" _text)
      string(REPLACE \"=/usr/sbin/\" \"=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/\" _text \"\${_text}\")
      string(REPLACE \"=/usr/bin/\" \"=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" _text \"\${_text}\")
      message(STATUS \"Installing: \${_dir}/${_name}\")
      file(MAKE_DIRECTORY \"\${_dir}\")
      file(WRITE \"\${_dir}/${_name}\" \"\${_text}\")")
  endforeach()
endif()

# ---- the Debian package (cpack -G DEB) ----------------------------------------------
set(_conffiles "")
foreach(entry IN LISTS EXIGREY_CONFFILES)
  string(REGEX REPLACE "^[^|]*[|]" "" _dst "${entry}")
  string(APPEND _conffiles "${_dst}\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/conffiles "${_conffiles}")
foreach(script postinst prerm postrm)
  file(COPY ${_pkg}/${script} DESTINATION ${CMAKE_CURRENT_BINARY_DIR}/pkg/control
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                     WORLD_READ WORLD_EXECUTE)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME exigrey)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "exigrey")
set(CPACK_PACKAGE_CONTACT "${EXIGREY_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "greylisting inside Exim on LMDB, with shared reputation")
# The long description (CPack indents it and puts the summary first).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "exigrey greylists in the Exim process itself: an ACL condition calls the
plugin libexigrey.so through Exim's dlfunc expansion, and the decision is
one LMDB transaction, with the behaviour of the Perl module Exim::Grey
(automatic whitelisting of the client after one successful retry).

ACLs can also report what they caught into a durable outbox; exigrey-forward
delivers the reports, signed and acknowledged, to exigrey-collect, which
aggregates the reports of many servers and publishes rbldnsd zones.

The package installs the plugin, the exigrey command, both daemons (their
systemd units disabled) and Exim snippets that stay inactive until enabled.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${EXIGREY_MAINTAINER}")
# Exim with ${dlfunc} (the heavy daemon, or a custom build); the shared
# libraries (libc6, libstdc++6, liblmdb0, libfmt9, libssl3) from dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "exim4-daemon-heavy | exim4-daemon-custom, adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "rbldnsd, knot, unbound, swaks")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ldconfig after install and removal, so that ld.so.cache lists the plugin's
# bare name exactly while it is installed. (CPack's GENERATE_SHLIBS writes
# this trigger only for versioned SONAMEs; the plugin's is "libexigrey.so",
# and no other package links against it, so there is no shlibs file.)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/triggers
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/conffiles
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/postinst
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/prerm
  ${CMAKE_CURRENT_BINARY_DIR}/pkg/control/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)  # with CPACK_SET_DESTDIR, this is the prefix used
set(CPACK_SET_DESTDIR ON)  # absolute destinations (/etc, /lib/systemd) land in the package
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/package)
include(CPack)
