// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey/exigrey_main.h: the `exigrey` command as a function, so that it can
// be tested and embedded; main() only calls it.
#pragma once

namespace exigrey::cli {

// Parses argv, runs one command and returns the exit status: 0 success,
// 1 not found, 2 usage error, 3 any other failure (the message is one line
// "exigrey: ..." on stderr). Never throws.
int exigrey_main(int argc, char** argv) noexcept;

}  // namespace exigrey::cli
