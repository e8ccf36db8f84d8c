// exigrey/paths.h: where a greylist DB lives on disk.
//
// The DB argument of unseen/seen resolves as in Exim::Grey:
//   "/abs/x"  -> used as given;
//   "./x"     -> relative to the current directory (Exim runs in its spool
//                directory, but absolute paths are safer);
//   "name"    -> <grey_dir>/name, where grey_dir is normally
//                $spool_directory/grey.
// A bare name must be a single path component (no '/', not "." or ".."),
// and no DB may be empty or contain a NUL byte: UsageError otherwise.
#pragma once

#include <string>
#include <string_view>

namespace exigrey {

// The directory that holds the named stores, below Exim's spool directory.
inline constexpr std::string_view kGreySubdir = "grey";

std::string resolve_db_path(std::string_view db, std::string_view grey_dir);

}  // namespace exigrey
