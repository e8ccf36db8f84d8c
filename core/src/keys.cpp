#include "exigrey/keys.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "exigrey/batch.h"
#include "exigrey/error.h"
#include "settings_text.h"

namespace exigrey {
namespace {

using detail::trim;

constexpr std::size_t kMaxKeysFile = 1024 * 1024;

}  // namespace

KeyRing parse_keys(std::string_view text, std::string_view origin) {
  KeyRing keys;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      throw UsageError(fmt::format("{}:{}: expected 'ID SECRET'", origin, number));
    }
    const std::string_view id = line.substr(0, sp);
    const std::string_view secret = trim(line.substr(sp));
    if (secret.find_first_of(" \t") != std::string_view::npos) {
      throw UsageError(fmt::format("{}:{}: expected 'ID SECRET', found more fields", origin, number));
    }
    try {
      check_reporter_id(id);
      check_secret(secret);
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}:{}: {}", origin, number, e.what()));
    }
    if (!keys.emplace(std::string(id), std::string(secret)).second) {
      throw UsageError(fmt::format("{}:{}: reporter {} listed twice", origin, number, id));
    }
  }
  return keys;
}

KeyRing load_keys(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw UsageError(fmt::format("cannot read keys file {}: {}", path, std::strerror(errno)));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw UsageError(fmt::format("keys file {} is not a regular file", path));
  }
  if ((st.st_mode & 0027) != 0) {
    ::close(fd);
    throw UsageError(fmt::format(
        "keys file {} is readable or writable by others: chmod 0600 (or 0640) it", path));
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeysFile) {
    ::close(fd);
    throw UsageError(fmt::format("keys file {} is larger than 1 MiB", path));
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return parse_keys(text, path);
}

}  // namespace exigrey
