// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/collect_main.h: the collector daemon's entry point.
#pragma once

namespace exigrey::collect {

// Parses the command line and runs the collector until SIGTERM/SIGINT.
// Returns the process exit status: 0 after a clean stop (or --help,
// --check-config, --dump), 1 on any error (printed to stderr as
// "exigrey-collect: error: ..."), CLI11's non-zero code on a bad command
// line.
int collect_main(int argc, char** argv);

}  // namespace exigrey::collect
