// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/key.h"

namespace exigrey {

KeyParts split_key(std::string_view key) noexcept {
  const auto slash = key.find('/');
  // The original's pattern needs a non-empty suffix; "a/" stays one item.
  if (slash == std::string_view::npos || slash + 1 == key.size()) return {key, std::nullopt};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace exigrey
