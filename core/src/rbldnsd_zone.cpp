#include "exigrey/rbldnsd_zone.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "exigrey/error.h"

namespace exigrey {
namespace {

constexpr std::array<ZoneFileKind, 3> kKinds = {ZoneFileKind::kIp4, ZoneFileKind::kIp6,
                                                ZoneFileKind::kNames};

std::size_t slot(Verb list, ZoneFileKind kind) {
  return (list == Verb::kBlack ? 0u : 3u) + static_cast<std::size_t>(kind);
}

bool matches(ZoneFileKind kind, SubjectKind s) {
  switch (kind) {
    case ZoneFileKind::kIp4:
      return s == SubjectKind::kIPv4;
    case ZoneFileKind::kIp6:
      return s == SubjectKind::kIPv6;
    case ZoneFileKind::kNames:
      return s == SubjectKind::kDomain;
  }
  return false;
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorKind::kStore,
              fmt::format("exigrey: cannot {} {}: {}", what, path, std::strerror(err)));
}

class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void check_dns_name(std::string_view setting, const std::string& name) {
  try {
    const Subject s = parse_subject(name);
    if (s.kind == SubjectKind::kDomain && s.text == name) return;
  } catch (const UsageError&) {
  }
  throw UsageError(
      fmt::format("exigrey: {} {:?} is not a DNS name in lower case", setting, name.substr(0, 80)));
}

}  // namespace

void check_zone_options(const ZoneOptions& o) {
  if (o.ttl < 1 || o.ttl > 7 * 86400) {
    throw UsageError(fmt::format("exigrey: dns_ttl must be 1s..1w, not {}", o.ttl));
  }
  check_dns_name("dns_ns", o.ns);
  check_dns_name("dns_hostmaster", o.hostmaster);
}

std::string zone_file_name(Verb list, ZoneFileKind kind) {
  static constexpr std::array<std::string_view, 3> kSuffix = {"ip4", "ip6", "names"};
  return fmt::format("{}.{}", to_string(list), kSuffix[static_cast<std::size_t>(kind)]);
}

std::string format_utc(UnixTime t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string render_zone_file(Verb list, ZoneFileKind kind, std::span<const Listing> listings,
                             const ZoneOptions& o) {
  static constexpr std::array<std::string_view, 3> kDataset = {"ip4trie", "ip6trie", "dnset"};
  static constexpr std::array<std::string_view, 3> kTestPoint = {
      kTestPointListed4, kTestPointListed6, kTestPointNameListed};
  const auto k = static_cast<std::size_t>(kind);
  const bool black = list == Verb::kBlack;
  std::string out;
  out.reserve(256 + listings.size() * 96);
  fmt::format_to(std::back_inserter(out),
                 "# exigrey-collect {} list ({} dataset for rbldnsd). Generated: do not edit.\n"
                 "$SOA {} {} {} 0 10m 5m 1w {}\n"
                 "$NS {} {}\n"
                 "$TTL {}\n"
                 "{} :127.0.0.2:RFC 5782 test point\n",
                 to_string(list), kDataset[k], o.ttl, o.ns, o.hostmaster, o.ttl, o.ttl, o.ns, o.ttl,
                 kTestPoint[k]);
  const std::string_view why = black ? "reported by" : "vouched for by";
  for (const Listing& l : listings) {
    if (!matches(kind, l.subject.kind)) continue;
    fmt::format_to(std::back_inserter(out), "{} :127.0.0.2:$ {} {} exigrey reporter{} since {}\n",
                   l.subject.text, why, l.reporters, l.reporters == 1 ? "" : "s",
                   format_utc(l.since));
  }
  return out;
}

void write_file_atomically(const std::string& dir, const std::string& name,
                           std::string_view content, UnixTime mtime) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (fd.get() < 0) io_fail("create", tmp, errno);
  ::fchmod(fd.get(), 0644);  // readable by rbldnsd whatever our umask
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::unlink(tmp.c_str());
      io_fail("write", tmp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  const struct timespec times[2] = {{static_cast<time_t>(mtime), 0},
                                    {static_cast<time_t>(mtime), 0}};
  if (::fsync(fd.get()) != 0 || ::futimens(fd.get(), times) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("sync", tmp, err);
  }
  if (::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("rename into place", path, err);
  }
  // Make the rename itself durable; failure here leaves a correct file in place.
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
}

ZoneWriter::ZoneWriter(std::string dir, ZoneOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error(ErrorKind::kStore,
                fmt::format("exigrey: rbldnsd directory {} does not exist or is not a "
                            "directory",
                            dir_));
  }
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    for (ZoneFileKind kind : kKinds) {
      const std::string path = dir_ + "/" + zone_file_name(list, kind);
      if (::stat(path.c_str(), &st) == 0) {
        FileState& f = files_[slot(list, kind)];
        f.mtime = st.st_mtime;
        f.sizes.push_back(static_cast<std::uint64_t>(st.st_size));
      }
    }
  }
}

ZoneWriter::Result ZoneWriter::publish(std::span<const Listing> black,
                                       std::span<const Listing> white, UnixTime now) {
  Result r;
  for (Verb list : {Verb::kBlack, Verb::kWhite}) {
    for (ZoneFileKind kind : kKinds) {
      FileState& f = files_[slot(list, kind)];
      std::string text =
          render_zone_file(list, kind, list == Verb::kBlack ? black : white, options_);
      if (f.published && text == f.content) {
        ++r.unchanged;
        continue;
      }
      if (f.mtime != now) f.sizes.clear();
      // Same second as an earlier version: make the size differ from every
      // version of this second, so rbldnsd's (mtime, size) check sees it.
      auto seen = [&](std::size_t size) {
        return std::find(f.sizes.begin(), f.sizes.end(), size) != f.sizes.end();
      };
      std::string padded = text;
      if (seen(padded.size())) {
        padded += "#\n";
        while (seen(padded.size())) padded.insert(padded.size() - 1, 1, '.');
      }
      write_file_atomically(dir_, zone_file_name(list, kind), padded, now);
      f.mtime = now;
      f.sizes.push_back(padded.size());
      f.content = std::move(text);
      f.published = true;
      ++r.written;
    }
  }
  return r;
}

}  // namespace exigrey
