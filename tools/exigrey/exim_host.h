// SPDX-License-Identifier: GPL-2.0-or-later
// exim_host.h: what exigrey asks of the Exim installation it serves: where
// Exim's spool directory is, and which user must be able to open the files
// exigrey creates.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace exigrey::cli {

// Where exigrey looks when Exim cannot be asked.
inline constexpr const char* kFallbackSpool = "/var/spool/exim4";
// The environment variable naming the exim binary to ask (tests, odd installs).
inline constexpr const char* kEximEnv = "EXIGREY_EXIM";

// Runs `exim -n -bP spool_directory` ($EXIGREY_EXIM, else exim or exim4 in
// PATH, /usr/sbin, /usr/local/sbin) and returns the absolute directory, or
// nullopt with `*why` saying what went wrong.
std::optional<std::string> exim_spool_directory(std::string* why);

struct Owner {
  uid_t uid;
  gid_t gid;
};

// The user and group Exim runs as: Debian-exim if that user exists, else the
// owner of `dir` (or of its parent, if `dir` does not exist). nullopt if
// neither gives a user other than root.
std::optional<Owner> exim_owner(const std::string& dir);

// When running as root, hands `path` (if it exists and belongs to root) to
// the Exim user, so that Exim can open what exigrey created. Never fails:
// the store works anyway for root; a chown that fails prints one warning
// line on stderr naming the file, so Exim's later error has its cause.
void give_to_exim(const std::string& path, const std::optional<Owner>& owner);

}  // namespace exigrey::cli
