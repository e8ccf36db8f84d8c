// SPDX-License-Identifier: GPL-2.0-or-later
// exigrey: greylist store administration. All logic is in exigrey_main().
#include "exigrey_main.h"

int main(int argc, char** argv) { return exigrey::cli::exigrey_main(argc, argv); }
