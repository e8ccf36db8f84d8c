# SPDX-License-Identifier: GPL-2.0-or-later
# Packaging.cmake: what `cmake --install` puts where besides the programs and
# the plugin (their rules are in tools/*/ and plugin/). The Debian source
# package (debian/) installs with these same rules into debian/tmp and splits
# the result into its binary packages; docs/packaging.md explains the layout,
# tests/package/test_package.sh builds, installs, upgrades and purges them.
#
# Two kinds of destinations:
#  - below the prefix (relative): programs, plugin, man pages, documentation,
#    /usr/share/exigrey. The Debian build uses the prefix /usr.
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
add_custom_target(exigrey_install_data ALL DEPENDS ${_man_out})

# The licence travels with a hand install; the Debian packages carry it in
# their copyright file instead (debian/copyright; debian/not-installed).
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${_docdir})
file(GLOB _docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${_docs} DESTINATION ${_docdir})
# Examples as documentation: plain files, never executable there.
install(DIRECTORY ${_ex}/ DESTINATION ${_docdir}/examples
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

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
