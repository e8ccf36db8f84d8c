// SPDX-License-Identifier: GPL-2.0-or-later
// fmt's compiled functions, built into libexigrey.so so that the module needs
// neither libfmt.so nor libstdc++.so at load time (plugin/CMakeLists.txt:
// every Exim process pays for each shared library the module pulls in).
// Including format-inl.h outside header-only mode defines fmt's non-template
// functions here; the templates core uses are instantiated where used.
#include <fmt/format-inl.h>

// Two templates that fmt's headers only declare and libfmt.so instantiates;
// core's number formatting needs them (nm -D on the module lists every
// fmt symbol left undefined: there must be none).
template fmt::detail::thousands_sep_result<char> fmt::detail::thousands_sep_impl<char>(
    fmt::detail::locale_ref);
template char fmt::detail::decimal_point_impl<char>(fmt::detail::locale_ref);
