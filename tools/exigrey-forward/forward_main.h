// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward's program logic, apart from main() so tests can call it.
#pragma once

namespace exigrey::forward {

// Parses the command line, runs the forwarder and returns the exit status:
// 0 done (or stopped by SIGTERM), 1 a delivery failed with --once, 2 usage or
// configuration error. Never throws.
int forward_main(int argc, char** argv);

}  // namespace exigrey::forward
