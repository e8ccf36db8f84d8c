// SPDX-License-Identifier: GPL-2.0-or-later
// Private to core: how core's own files reach the environment behind a
// Store handle (Store::env() is private; this struct is its friend).
#pragma once

#include "env.h"
#include "exigrey/store.h"

namespace exigrey::detail {

struct StoreAccess {
  static Env& env(const Store& store) { return store.env(); }
};

}  // namespace exigrey::detail
