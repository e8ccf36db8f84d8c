// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/secret_file.h: reading a file that holds secrets (the collector's
// keys file, the peers file, a forwarder's secret file).
//
// The file is opened first and then checked on the open descriptor (no race
// between check and use): it must be a regular file that others may neither
// read nor write and its group may not write (mode bits 027), and at most
// `max_bytes` long. It is read whole; a read error is an error, never a
// shorter text. Errors: UsageError, one line naming the file (never its
// contents). Thread safety: pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace exigrey {

// `what` names the file in messages ("keys file", "peers file").
std::string read_secret_file(const std::string& path, std::string_view what,
                             std::size_t max_bytes = 1024 * 1024);

}  // namespace exigrey
