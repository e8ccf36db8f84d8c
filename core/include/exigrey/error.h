// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/error.h: the error types every part of exigrey throws.
//
// Every message is one line that names the problem and, where there is one,
// the fix, so that a caller (the Exim plugin, a CLI command, a daemon) can
// show `what()` to an admin unchanged. Errors are values-with-a-kind so the
// plugin can map them to Exim codes without string matching.
//
// Thread safety: plain value types, safe to copy between threads.
#pragma once

#include <stdexcept>
#include <string>

namespace exigrey {

enum class ErrorKind {
  kUsage,    // bad argument from the caller (ACL, CLI, config): fix the input
  kStore,    // the store could not be opened, read or written
  kMapFull,  // the store's map is full: purge, or raise map_size
  kCorrupt,  // a record or file is not in exigrey's format
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// A bad argument: the message says which argument and what was wrong.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ErrorKind::kUsage, message) {}
};

// A failure of the store. `lmdb_code()` is the LMDB or errno code (0 if none).
class StoreError : public Error {
 public:
  StoreError(ErrorKind kind, const std::string& message, int lmdb_code = 0)
      : Error(kind, message), code_(lmdb_code) {}
  int lmdb_code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace exigrey
