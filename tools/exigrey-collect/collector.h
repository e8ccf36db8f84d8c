// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-collect/collector.h: the running daemon, wired together.
//
// One io_context thread runs everything: the plain listener, the
// aggregator's commits, the publisher's timers, /metrics and the signals.
// SIGHUP re-reads the settings (file + the same flags); an invalid file is
// logged and the running configuration kept; settings that need a restart
// (listen addresses, directories, sync, map_size) are reported and kept.
// SIGTERM and SIGINT stop cleanly: stop accepting, close connections, commit
// what is queued, publish once more if needed, sync the store. SIGPIPE is
// ignored. State lives in LMDB, so even SIGKILL loses at most the reports
// of the current event-loop turn.
#pragma once

#include "settings.h"

namespace exigrey::collect {

// Runs until stopped by a signal; returns the exit status. Throws
// exigrey::Error or std::system_error when it cannot start.
int run_collector(const CommandLine& cmd, CollectConfig cfg);

}  // namespace exigrey::collect
