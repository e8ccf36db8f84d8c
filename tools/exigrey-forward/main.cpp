// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey-forward: delivers the outbox's reports to collectors (exigrey-forward(8)).
#include "exigrey-forward/forward_main.h"

int main(int argc, char** argv) { return exigrey::forward::forward_main(argc, argv); }
