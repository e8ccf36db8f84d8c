// SPDX-License-Identifier: GPL-2.0-or-later
#include "state_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "exigrey/error.h"
#include "exigrey/fd.h"
#include "raw_store.h"

namespace exigrey::detail {
namespace {

constexpr std::string_view kMagic = "EXGSTAT1";
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kBootField = kMaxBootIdBytes + 1;
constexpr std::size_t kChecksumBytes = 16;
constexpr std::size_t kBody = kStateRecordBytes - kChecksumBytes;

// Two 64-bit FNV-1a sums (different offsets) of the record: enough to tell a
// torn or foreign record, and free of OpenSSL, whose first use in a process
// costs about a millisecond (every Exim process reads this record once).
std::string checksum(std::string_view body) {
  std::string out;
  for (std::uint64_t h :
       {std::uint64_t{0xcbf29ce484222325ULL}, std::uint64_t{0x84222325cbf29ce4ULL}}) {
    for (const char c : body) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    put_le<std::uint64_t>(out, h);
  }
  return out;
}

void put_text(std::string& out, std::string_view text) {
  std::string field(kBootField, '\0');
  std::memcpy(field.data(), text.data(), std::min(text.size(), kMaxBootIdBytes));
  out += field;
}

std::string get_text(LeReader& in) {
  const std::string_view field = in.bytes(kBootField);
  return std::string(field.substr(0, std::min(field.find('\0'), kMaxBootIdBytes)));
}

bool printable(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return false;
  }
  return true;
}

[[noreturn]] void fail(const std::string& path, const char* what, int err) {
  throw StoreError(ErrorKind::kStore,
                   fmt::format("exigrey: cannot {} {}: {}", what, path, std::strerror(err)), err);
}

}  // namespace

std::string encode_state(const StateRecord& r) {
  std::string out(kMagic);
  put_le<std::uint8_t>(out, kVersion);
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.use));
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.mode));
  put_le<std::uint8_t>(out, static_cast<std::uint8_t>(r.recovery));
  put_le<std::uint8_t>(out, r.logged ? 1 : 0);
  put_le<std::int64_t>(out, r.since);
  put_le<std::int64_t>(out, r.recovered_at);
  put_le<std::int64_t>(out, r.flushed_at);
  put_le<std::uint64_t>(out, r.restored);
  put_text(out, r.boot);
  put_text(out, r.recovered_boot);
  out.resize(kBody, '\0');
  out += checksum(out);
  return out;
}

std::optional<StateRecord> decode_state(std::string_view bytes) {
  if (bytes.size() != kStateRecordBytes) return std::nullopt;
  if (checksum(bytes.substr(0, kBody)) != bytes.substr(kBody)) return std::nullopt;
  try {
    LeReader in(bytes.substr(0, kBody), "");
    if (in.bytes(kMagic.size()) != kMagic || in.get<std::uint8_t>() != kVersion)
      return std::nullopt;
    StateRecord r;
    const auto use = in.get<std::uint8_t>();
    const auto mode = in.get<std::uint8_t>();
    const auto recovery = in.get<std::uint8_t>();
    const auto logged = in.get<std::uint8_t>();
    if ((use != 1 && use != 2) || mode > static_cast<std::uint8_t>(SyncMode::kPrecious) ||
        recovery > 3 || logged > 1) {
      return std::nullopt;
    }
    r.use = static_cast<StoreUse>(use);
    r.mode = static_cast<SyncMode>(mode);
    r.recovery = static_cast<RecoveryKind>(recovery);
    r.logged = logged == 1;
    r.since = in.get<std::int64_t>();
    r.recovered_at = in.get<std::int64_t>();
    r.flushed_at = in.get<std::int64_t>();
    r.restored = in.get<std::uint64_t>();
    r.boot = get_text(in);
    r.recovered_boot = get_text(in);
    return r;
  } catch (const StoreError&) {
    return std::nullopt;
  }
}

void sync_dir(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0               ? std::string("/")
                                                     : path.substr(0, slash);
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    const int err = errno;
    throw StoreError(ErrorKind::kStore,
                     fmt::format("exigrey: cannot sync directory {}: {}", dir, std::strerror(err)),
                     err);
  }
}

void adopt_dir_owner(const std::string& path) noexcept {
  if (::geteuid() != 0) return;
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string(".")
                          : slash == 0               ? std::string("/")
                                                     : path.substr(0, slash);
  struct stat d {
  }, f{};
  if (::stat(dir.c_str(), &d) != 0 || d.st_uid == 0) return;
  if (::lstat(path.c_str(), &f) != 0 || f.st_uid != 0 || !S_ISREG(f.st_mode)) return;
  (void)!::lchown(path.c_str(), d.st_uid, d.st_gid);
}

std::string read_boot_id(const std::string& file) {
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  std::string text;
  const int err = fd.valid() ? read_all(fd.get(), kMaxBootIdBytes + 2, &text) : errno;
  const ssize_t n = err != 0 ? -1 : static_cast<ssize_t>(text.size());
  std::string_view id = text;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.remove_suffix(1);
  if (n < 0 || id.empty() || id.size() > kMaxBootIdBytes || !printable(id)) {
    throw StoreError(ErrorKind::kStore,
                     fmt::format("exigrey: cannot read the boot id from {} ({}): it tells a "
                                 "crash from a clean stop; set boot_id_file, or sync = meta",
                                 file, n < 0 ? std::strerror(err) : "not a boot id"),
                     n < 0 ? err : 0);
  }
  return std::string(id);
}

StateFile::StateFile(std::string path, bool writable, bool create) : path_(std::move(path)) {
  const int cloexec = O_CLOEXEC;
  int denied = 0;
  if (writable) {
    fd_.reset(::open(path_.c_str(), O_RDWR | cloexec | (create ? O_CREAT : 0), 0660));
    if (fd_.valid()) {
      writable_ = true;
      if (create) {
        ::fchmod(fd_.get(), 0660);  // whatever the umask, as the stores
        adopt_dir_owner(path_);
      }
      return;
    }
    if (errno != EACCES && errno != EROFS && errno != EPERM) fail(path_, "open", errno);
    denied = errno;
  }
  fd_.reset(::open(path_.c_str(), O_RDONLY | cloexec));
  // Missing because it could not be created: say why it could not.
  if (!fd_.valid()) fail(path_, "open", errno == ENOENT && denied != 0 ? denied : errno);
}

StateFile::~StateFile() = default;

bool StateFile::lock(int op, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (::flock(fd_.get(), op | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) fail(path_, "lock", errno);
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

bool StateFile::lock_shared(std::chrono::milliseconds wait) { return lock(LOCK_SH, wait); }
bool StateFile::lock_exclusive(std::chrono::milliseconds wait) { return lock(LOCK_EX, wait); }
void StateFile::unlock() noexcept { ::flock(fd_.get(), LOCK_UN); }

StateFile::Read StateFile::read(StateRecord& out) const {
  char buf[kStateRecordBytes + 1];
  ssize_t n;
  do {
    n = ::pread(fd_.get(), buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail(path_, "read", errno);
  if (n == 0) return Read::kEmpty;
  const auto r = decode_state(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!r) return Read::kUnreadable;
  out = *r;
  return Read::kOk;
}

void StateFile::write(const StateRecord& r, bool sync) {
  const std::string bytes = encode_state(r);
  ssize_t n;
  do {
    n = ::pwrite(fd_.get(), bytes.data(), bytes.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(bytes.size())) fail(path_, "write", n < 0 ? errno : EIO);
  if (sync && ::fdatasync(fd_.get()) != 0) fail(path_, "sync", errno);
}

}  // namespace exigrey::detail
