// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/paths.h: where a greylist DB lives on disk.
//
// The DB argument of unseen/seen resolves as in Exim::Grey:
//   "/abs/x"  -> used as given;
//   "./x"     -> relative to the current directory (Exim runs in its spool
//                directory, but absolute paths are safer);
//   "name"    -> <grey_dir>/name, where grey_dir is normally
//                $spool_directory/grey.
// A bare name must be a single path component (no '/', not "." or ".."),
// and must not end in a suffix a store's own files use ("-lock", ".keep",
// ".state", ".suspect", ".recover": store.h, store_files()); no DB may be
// empty or contain a NUL byte: UsageError otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace exigrey {

// The directory that holds the named stores, below Exim's spool directory.
inline constexpr std::string_view kGreySubdir = "grey";

std::string resolve_db_path(std::string_view db, std::string_view grey_dir);

// The greylist stores in `dir`, sorted: files that have an LMDB lock file or
// a crash marker beside them, leaving out the outbox and the stores' own
// companion files. Nothing is opened; an unreadable directory gives none.
std::vector<std::string> stores_in(const std::string& dir);

}  // namespace exigrey
