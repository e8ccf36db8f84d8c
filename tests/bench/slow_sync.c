// SPDX-License-Identifier: GPL-2.0-or-later
/* slow_sync.so: an LD_PRELOAD shim that makes every fsync, fdatasync and
 * msync(MS_SYNC) wait SLOW_SYNC_US microseconds first, as a cloud volume
 * (about 1 ms) or a spinning disk (about 8 ms) does. For
 * tests/bench/slow_disk.py: first sightings per second with 32 Exim
 * processes, sync = meta (one sync per new record) against precious (none).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static long g_us;

/* Read at load time: Exim clears every variable keep_environment does not
 * list before the first sync. */
__attribute__((constructor)) static void read_delay(void) {
  const char* s = getenv("SLOW_SYNC_US");
  g_us = s ? atol(s) : 0;
}

static long delay_us(void) { return g_us; }

static void wait_disk(void) {
  long us = delay_us();
  if (us <= 0) return;
  struct timespec t = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&t, &t) != 0) {
  }
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fsync");
  wait_disk();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
  wait_disk();
  return real(fd);
}

int msync(void* addr, size_t len, int flags) {
  static int (*real)(void*, size_t, int);
  if (!real) real = dlsym(RTLD_NEXT, "msync");
  if (flags & MS_SYNC) wait_disk();
  return real(addr, len, flags);
}
