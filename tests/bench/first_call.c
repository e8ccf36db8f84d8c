// SPDX-License-Identifier: GPL-2.0-or-later
/* The cost of exigrey's first call in a freshly forked process, as in each
 * Exim process that handles a connection: dlopen() of libexigrey.so (with
 * libstdc++, libfmt and liblmdb it pulls in), then the first ${dlfunc} call
 * (settings file, store directory, opening the LMDB environment, reader check),
 * against the same call once everything is open.
 *
 *   exigrey_first_call PLUGIN.so DIR ROUNDS [PRELOAD]
 *
 * PRELOAD: a colon-separated list of shared libraries to load (RTLD_GLOBAL)
 * before anything is forked: the libraries the exim binary itself links
 * (compare.py passes `ldd /usr/sbin/exim4`), so that the dlopen() measured
 * loads only what Exim would load for the module.
 *
 * A plain C program (like Exim: libstdc++ is not loaded before the dlopen)
 * that provides the few Exim functions the module calls (expand_string for
 * $spool_directory / $exim_uid / $exim_gid, log_write, debug_printf,
 * string_copy_function) and exports them (-rdynamic). DIR plays the spool
 * directory: the store is DIR/grey/seen. EXIGREY_CONFIG should name the
 * settings file to use (sync etc.).
 *
 * One key is made "new" first; then ROUNDS times a child is forked that
 * times: dlopen+dlsym, the first call (too early: a read-only decision),
 * a second call on the same key (the steady state). A second series forks
 * from a parent that has the module loaded already (only the store opening
 * is new in the child). Prints medians in microseconds:
 *
 *   dlopen_us=... first_call_us=... steady_call_us=... first_minus_steady_us=...
 *   preloaded_first_call_us=... preloaded_minus_steady_us=...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef unsigned char uschar;
typedef int (*dlfunc_t)(uschar** yield, int argc, uschar* argv[]);

/* ---- what Exim provides to a ${dlfunc} module ---- */
unsigned int debug_selector = 0;
uschar* expand_string_message = NULL;
static char spool[4096];
static char idbuf[32];

uschar* expand_string(uschar* s) {
  if (strcmp((char*)s, "$spool_directory") == 0) return (uschar*)spool;
  if (strcmp((char*)s, "$exim_uid") == 0) {
    snprintf(idbuf, sizeof idbuf, "%u", (unsigned)getuid());
    return (uschar*)idbuf;
  }
  if (strcmp((char*)s, "$exim_gid") == 0) {
    snprintf(idbuf, sizeof idbuf, "%u", (unsigned)getgid());
    return (uschar*)idbuf;
  }
  expand_string_message = (uschar*)"unknown variable";
  return NULL;
}
void log_write(unsigned int selector, int flags, const char* format, ...) {
  (void)selector;
  (void)flags;
  va_list ap;
  va_start(ap, format);
  vfprintf(stderr, format, ap);
  va_end(ap);
  fputc('\n', stderr);
}
void debug_printf(const char* format, ...) { (void)format; }
uschar* string_copy_function(const uschar* s) { return (uschar*)strdup((const char*)s); }

/* ---- the harness ---- */
static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char* plugin;
static char key[] = "<sender@bench.test>:<rcpt@example.test>/10.1.2.3";

static dlfunc_t load(void) {
  void* h = dlopen(plugin, RTLD_LAZY); /* as Exim 4.96 does (expand.c) */
  if (h == NULL) {
    fprintf(stderr, "exigrey_first_call: dlopen: %s\n", dlerror());
    exit(2);
  }
  dlfunc_t fn = (dlfunc_t)dlsym(h, "unseen");
  if (fn == NULL) {
    fprintf(stderr, "exigrey_first_call: dlsym unseen: %s\n", dlerror());
    exit(2);
  }
  return fn;
}

static int call(dlfunc_t fn, const char* want) {
  uschar* yield = NULL;
  uschar* argv[2] = {(uschar*)key, (uschar*)"10m"};
  int rc = fn(&yield, 2, argv);
  if (rc != 0 || yield == NULL || strcmp((char*)yield, want) != 0) {
    fprintf(stderr, "exigrey_first_call: unseen returned %d %s (wanted %s)\n", rc,
            yield ? (char*)yield : "(null)", want);
    return 0;
  }
  return 1;
}

/* In a child: [0] dlopen (0 if preloaded), [1] first call, [2] second call. */
static void measure(dlfunc_t preloaded, double out[3]) {
  int fds[2];
  if (pipe(fds) != 0) exit(2);
  pid_t pid = fork();
  if (pid == 0) {
    double t[3] = {0, 0, 0};
    double t0 = now_us();
    dlfunc_t fn = preloaded ? preloaded : load();
    double t1 = now_us();
    int ok = call(fn, "yes"); /* too early: defer */
    double t2 = now_us();
    ok &= call(fn, "yes");
    double t3 = now_us();
    t[0] = t1 - t0;
    t[1] = t2 - t1;
    t[2] = t3 - t2;
    if (!ok) t[1] = -1;
    if (write(fds[1], t, sizeof t) != (ssize_t)sizeof t) _exit(2);
    _exit(0); /* like Exim's exit: the module's atexit hook closes the store */
  }
  close(fds[1]);
  if (read(fds[0], out, sizeof(double) * 3) != (ssize_t)(sizeof(double) * 3) || out[1] < 0) {
    fprintf(stderr, "exigrey_first_call: child failed\n");
    exit(1);
  }
  close(fds[0]);
  waitpid(pid, NULL, 0);
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}
static double median(double* v, int n) {
  qsort(v, n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: exigrey_first_call PLUGIN.so DIR ROUNDS [PRELOAD:...]\n");
    return 2;
  }
  if (argc == 5) {
    for (char* lib = strtok(argv[4], ":"); lib != NULL; lib = strtok(NULL, ":")) {
      if (dlopen(lib, RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "exigrey_first_call: preload %s: %s\n", lib, dlerror());
      }
    }
  }
  plugin = argv[1];
  snprintf(spool, sizeof spool, "%s", argv[2]);
  int rounds = atoi(argv[3]);
  if (rounds < 1) rounds = 1;
  /* Make the key known (new record) in a child, so every measured call is
   * the same read-only "too early" decision. */
  pid_t pid = fork();
  if (pid == 0) _exit(call(load(), "yes") ? 0 : 1);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;

  double *d = calloc(rounds, sizeof *d), *f = calloc(rounds, sizeof *f),
         *s = calloc(rounds, sizeof *s), *x = calloc(rounds, sizeof *x),
         *pf = calloc(rounds, sizeof *pf), *px = calloc(rounds, sizeof *px);
  double r[3];
  for (int i = 0; i < rounds; ++i) {
    measure(NULL, r);
    d[i] = r[0];
    f[i] = r[1];
    s[i] = r[2];
    x[i] = r[1] - r[2];
  }
  dlfunc_t pre = load(); /* loaded in the parent, never called there */
  for (int i = 0; i < rounds; ++i) {
    measure(pre, r);
    pf[i] = r[1];
    px[i] = r[1] - r[2];
  }
  double md = median(d, rounds), mf = median(f, rounds), ms = median(s, rounds),
         mx = median(x, rounds), mpf = median(pf, rounds), mpx = median(px, rounds);
  printf(
      "rounds=%d dlopen_us=%.1f first_call_us=%.1f steady_call_us=%.1f "
      "first_minus_steady_us=%.1f preloaded_first_call_us=%.1f preloaded_minus_steady_us=%.1f\n",
      rounds, md, mf, ms, mx, mpf, mpx);
  return 0;
}
