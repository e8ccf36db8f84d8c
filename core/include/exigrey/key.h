// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/key.h: splitting a greylist KEY into item and suffix.
//
// Exim::Grey semantics: the key splits at the FIRST '/'; the item is what
// comes before it and the suffix everything after it. An empty suffix means
// there is no split ("a/" is the item "a/"); an empty item is allowed ("/x").
// Bytes are compared exactly; nothing is folded or trimmed.
//
// The views point into `key`, which must outlive the result.
#pragma once

#include <optional>
#include <string_view>

namespace exigrey {

struct KeyParts {
  std::string_view item;
  std::optional<std::string_view> suffix;  // never an empty view when present
};

KeyParts split_key(std::string_view key) noexcept;

}  // namespace exigrey
