// SPDX-License-Identifier: GPL-2.0-or-later
#include "collect_main.h"

int main(int argc, char** argv) { return exigrey::collect::collect_main(argc, argv); }
