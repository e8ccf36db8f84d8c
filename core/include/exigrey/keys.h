// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/keys.h: the collector's keys file, one `ID SECRET` pair per line.
//
//   # reporter id   secret (32..256 printable bytes: openssl rand -hex 32)
//   mx1.example.org 4f1c...
//
// Blank lines and lines starting with '#' are ignored; blanks around fields
// are trimmed. A bad id or secret, a repeated id, or a line with other than
// two fields is a UsageError "<file>:<line>: ..." that never quotes a
// secret. load_keys refuses a file that others may read or write (mode bits
// 007, and group write), and a file over 1 MiB. Thread safety: pure.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace exigrey {

using KeyRing = std::map<std::string, std::string, std::less<>>;  // id -> secret

KeyRing parse_keys(std::string_view text, std::string_view origin);
KeyRing load_keys(const std::string& path);

}  // namespace exigrey
