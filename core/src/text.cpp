// SPDX-License-Identifier: GPL-2.0-or-later
#include "exigrey/text.h"

namespace exigrey {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace exigrey
