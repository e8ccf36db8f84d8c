// SPDX-License-Identifier: GPL-2.0-or-later
// plugin/dlfunc.h: what the ${dlfunc} entry points of libexigrey.so do,
// without Exim.
//
// exim_shim.cpp is the only file that sees Exim's local_scan.h. It turns
// Exim's argv into string_views, wraps Exim's services in a Host and maps an
// Outcome to Exim's return codes. Everything else lives here, so that it can
// be read, and tested, as plain C++.
//
// An entry point is a function here with the shape of greylist(), a
// three-line extern "C" wrapper in the shim and its name in exports.map.
//
// Process safety: Exim dlopens the plugin once per process and never closes
// it; Exim forks one process per SMTP connection. Per-process caches (the
// parsed settings file, Exim's spool directory and user) live in a leaked
// singleton guarded by a mutex, and stay valid across fork.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "exigrey/clock.h"

namespace exigrey::plugin {

// The services of the host process (Exim, or a test double).
class Host {
 public:
  virtual ~Host() = default;
  // Expands an Exim string such as "$spool_directory". On failure returns
  // nullopt and sets `*error` to Exim's reason.
  virtual std::optional<std::string> expand(const char* text, std::string* error) = 0;
  // Writes one line to Exim's main log.
  virtual void log(const std::string& line) = 0;
  // Whether Exim runs with debugging (-d); debug() is called only then.
  virtual bool debugging() const = 0;
  virtual void debug(const std::string& line) = 0;
};

enum class Function {
  kUnseen,  // "yes" means: not seen long enough, defer
  kSeen,    // the reverse answers, same side effects
  kDecide,  // the same decision, answered as fields (see greylist())
};

std::string_view to_string(Function fn) noexcept;

// The result of one call. `ok` true: `text` is the expansion result ("yes" or
// "no"). `ok` false: `text` is a one-line error that names the problem and
// the fix; the shim returns it to Exim as FAIL.
struct Outcome {
  bool ok = false;
  std::string text;
};

// ${dlfunc{libexigrey.so}{unseen|seen}{KEY[/SUFFIX]}{DELAY}{DB}}: `args` are
// the arguments after the function name (Exim passes at most 8). Follows
// docs/plugin.md and Exim::Grey's behaviour (exigrey-acl(7), COMPATIBILITY):
//   - 1 to 3 arguments, else a usage error; an empty KEY, an explicit empty
//     DELAY or DB, or a DELAY that is not seconds or Exim units is a usage
//     error, found before any store is touched;
//   - DB resolves under the settings' `directory`, else under Exim's
//     $spool_directory/grey (created mode 0750 when missing and, as root,
//     given to Exim's user), unless it starts with '/' or './';
//   - store errors are errors, unless the settings say fail_open: then the
//     pass verdict ("no" for unseen, "yes" for seen) and a main-log line.
// `decide` answers "verdict=defer|pass reason=R wait=N delayed=N", R one of
// new, too-early, passed (this pass ended the delay; `delayed` says how long
// it was), known (the item had passed before), whitelisted, or fail-open (a
// store error under fail_open); `wait` is the seconds until a retry passes.
// Throws only std::bad_alloc (the shim catches everything anyway).
Outcome greylist(Function fn, std::span<const std::string_view> args, Host& host,
                 const Clock& clock = SystemClock::instance());

enum class SuffixFunction {
  kWhitelist,    // adds SUFFIX to the whitelist, or refreshes it: "yes"
  kWhitelisted,  // whether SUFFIX is whitelisted (a hit is refreshed): "yes"/"no"
};

std::string_view to_string(SuffixFunction fn) noexcept;

// ${dlfunc{libexigrey.so}{whitelist|whitelisted}{SUFFIX}{DB}}: the
// whitelist from the ACL (e.g. the addresses local users write to, so their
// replies pass at once). 1 or 2 arguments; an empty SUFFIX or DB, or a
// SUFFIX over the store's name limit, is a usage error. DB resolves as for
// greylist(). Store errors are errors, unless fail_open: then "no" and a
// main-log line. With `log = decisions`, one main-log line per call.
Outcome suffix_function(SuffixFunction fn, std::span<const std::string_view> args, Host& host,
                        const Clock& clock = SystemClock::instance());

// ${dlfunc{libexigrey.so}{report}{VERB}{SUBJECT}{NOTE}}: validates the report
// (VERB black or white; SUBJECT an IPv4/IPv6 address or a domain name,
// normalised; NOTE optional, at most 200 bytes, no control bytes), appends it
// durably to the outbox in the store directory (<grey_dir>/outbox) and yields
// "yes". It never opens a socket: exigrey-forward delivers. A wrong number
// of arguments is an error (a fixed mistake in the ACL); any other failure
// (a bad verb, subject or note, a broken or full outbox) yields "no" plus a
// main-log line, because Exim defers the SMTP command on a failed expansion
// even inside `warn`, and a report must never block mail.
Outcome report(std::span<const std::string_view> args, Host& host,
               const Clock& clock = SystemClock::instance());

}  // namespace exigrey::plugin
