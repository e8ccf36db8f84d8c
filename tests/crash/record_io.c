// SPDX-License-Identifier: GPL-2.0-or-later
/* record_io.so: an LD_PRELOAD shim that records every write, sync and
 * directory change the files of one directory receive, for the crash-state
 * explorer (tests/crash/explore.py, docs/reliability.md).
 *
 *   CRASH_DIR=/abs/dir          the directory whose files are recorded
 *   CRASH_TRACE=/abs/file       where the records go (appended)
 *   CRASH_DROP_SYNC=.keep,...   fsync/fdatasync of files ending so are not
 *                               done and not recorded (a broken variant the
 *                               explorer must catch)
 *
 * Each record is written with one write() to an O_APPEND file, so several
 * processes can share the trace and their records never interleave. The
 * workload's facts are writes to CRASH_DIR/crash-marks: recorded as marks,
 * never part of a disk image. Only what LMDB and exigrey use is wrapped:
 * open, openat, creat, close, write, pwrite, writev, pwritev, ftruncate,
 * fsync, fdatasync, rename, renameat, unlink, unlinkat.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_CREATE = 1, OP_WRITE, OP_SYNC, OP_TRUNC, OP_RENAME, OP_UNLINK, OP_MARK };

#define MAX_FDS 4096
static char* g_paths[MAX_FDS]; /* fd -> recorded path (NULL: not recorded) */
static char g_dsync[MAX_FDS];  /* opened O_DSYNC or O_SYNC: every write is durable */
static char g_dir[PATH_MAX];
static size_t g_dir_len;
static int g_trace = -1;
static char g_drop[512];

static int (*real_open)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);

static void init(void) {
  static int done;
  if (done) return;
  done = 1;
  real_open = dlsym(RTLD_NEXT, "open");
  real_openat = dlsym(RTLD_NEXT, "openat");
  real_close = dlsym(RTLD_NEXT, "close");
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_rename = dlsym(RTLD_NEXT, "rename");
  real_renameat = dlsym(RTLD_NEXT, "renameat");
  real_unlink = dlsym(RTLD_NEXT, "unlink");
  real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
  const char* dir = getenv("CRASH_DIR");
  const char* trace = getenv("CRASH_TRACE");
  const char* drop = getenv("CRASH_DROP_SYNC");
  if (drop) snprintf(g_drop, sizeof g_drop, "%s", drop);
  if (!dir || !trace || dir[0] != '/') return;
  snprintf(g_dir, sizeof g_dir, "%s", dir);
  g_dir_len = strlen(g_dir);
  while (g_dir_len > 1 && g_dir[g_dir_len - 1] == '/') g_dir[--g_dir_len] = '\0';
  g_trace = real_open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

__attribute__((constructor)) static void constructor(void) { init(); }

/* The absolute form of `path` if it lies in the recorded directory (or is
 * that directory), else NULL. Caller frees. */
static char* recorded(const char* path) {
  if (g_trace < 0 || path == NULL) return NULL;
  char buf[PATH_MAX];
  if (path[0] == '/') {
    snprintf(buf, sizeof buf, "%s", path);
  } else {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    snprintf(buf, sizeof buf, "%s/%s", cwd, path);
  }
  if (strncmp(buf, g_dir, g_dir_len) != 0) return NULL;
  if (buf[g_dir_len] != '\0' && buf[g_dir_len] != '/') return NULL;
  return strdup(buf);
}

/* One record: u32 op, u32 pid, u64 offset, u32 len, u16 path1, u16 path2,
 * then the paths and `len` bytes of data. */
static void emit(uint32_t op, const char* p1, const char* p2, uint64_t offset,
                 const struct iovec* iov, int iovcnt) {
  if (g_trace < 0) return;
  size_t len = 0;
  for (int i = 0; i < iovcnt; ++i) len += iov[i].iov_len;
  const size_t l1 = p1 ? strlen(p1) : 0, l2 = p2 ? strlen(p2) : 0;
  const size_t total = 24 + l1 + l2 + len;
  char* rec = malloc(total);
  if (!rec) return;
  uint32_t pid = (uint32_t)getpid();
  uint32_t len32 = (uint32_t)len;
  uint16_t a = (uint16_t)l1, b = (uint16_t)l2;
  memcpy(rec, &op, 4);
  memcpy(rec + 4, &pid, 4);
  memcpy(rec + 8, &offset, 8);
  memcpy(rec + 16, &len32, 4);
  memcpy(rec + 20, &a, 2);
  memcpy(rec + 22, &b, 2);
  memcpy(rec + 24, p1 ? p1 : "", l1);
  memcpy(rec + 24 + l1, p2 ? p2 : "", l2);
  char* d = rec + 24 + l1 + l2;
  for (int i = 0; i < iovcnt; ++i) {
    memcpy(d, iov[i].iov_base, iov[i].iov_len);
    d += iov[i].iov_len;
  }
  int saved = errno;
  (void)real_write(g_trace, rec, total);
  errno = saved;
  free(rec);
}

static int is_marks(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash && strcmp(slash + 1, "crash-marks") == 0;
}

static int dropped(const char* path) {
  if (!g_drop[0] || !path) return 0;
  char list[512];
  snprintf(list, sizeof list, "%s", g_drop);
  size_t n = strlen(path);
  for (char* tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    size_t t = strlen(tok);
    if (t > 0 && t <= n && strcmp(path + n - t, tok) == 0) return 1;
  }
  return 0;
}

static int after_open(int fd, char* path, int flags, int existed) {
  if (fd < 0 || !path) {
    free(path);
    return fd;
  }
  if (!is_marks(path)) {
    if ((flags & O_CREAT) && !existed) emit(OP_CREATE, path, NULL, 0, NULL, 0);
    if ((flags & O_TRUNC) && existed) emit(OP_TRUNC, path, NULL, 0, NULL, 0);
  }
  if (fd < MAX_FDS) {
    free(g_paths[fd]);
    g_paths[fd] = path;
    /* LMDB writes the meta page of a fully synced environment through a
     * second descriptor opened O_DSYNC: each such write is its own sync. */
    g_dsync[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
  } else {
    free(path);
  }
  return fd;
}

int open(const char* path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  char* rec = recorded(path);
  const int existed = rec ? access(rec, F_OK) == 0 : 1;
  return after_open(real_open(path, flags, mode), rec, flags, existed);
}
int open64(const char* path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char* path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  char* rec = (dirfd == AT_FDCWD || (path && path[0] == '/')) ? recorded(path) : NULL;
  const int existed = rec ? access(rec, F_OK) == 0 : 1;
  return after_open(real_openat(dirfd, path, flags, mode), rec, flags, existed);
}
int openat64(int dirfd, const char* path, int flags, ...) __attribute__((alias("openat")));

int creat(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FDS && g_paths[fd]) {
    free(g_paths[fd]);
    g_paths[fd] = NULL;
  }
  return real_close(fd);
}

static const char* path_of(int fd) { return fd >= 0 && fd < MAX_FDS ? g_paths[fd] : NULL; }

static void record_write(int fd, uint64_t offset, const struct iovec* iov, int iovcnt, ssize_t n) {
  const char* p = path_of(fd);
  if (!p || n <= 0) return;
  /* Only what reached the file: a short write records its prefix. */
  struct iovec part[64];
  int k = 0;
  size_t left = (size_t)n;
  for (int i = 0; i < iovcnt && left > 0 && k < 64; ++i) {
    size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
    part[k].iov_base = iov[i].iov_base;
    part[k].iov_len = take;
    left -= take;
    ++k;
  }
  emit(is_marks(p) ? OP_MARK : OP_WRITE, p, NULL, offset, part, k);
  if (g_dsync[fd] && !is_marks(p) && !dropped(p)) emit(OP_SYNC, p, NULL, 0, NULL, 0);
}

ssize_t write(int fd, const void* buf, size_t n) {
  init();
  off_t at = path_of(fd) ? lseek(fd, 0, SEEK_CUR) : 0;
  ssize_t r = real_write(fd, buf, n);
  if (path_of(fd) && (fcntl(fd, F_GETFL) & O_APPEND)) at = lseek(fd, 0, SEEK_CUR) - (r > 0 ? r : 0);
  struct iovec v = {(void*)buf, n};
  record_write(fd, (uint64_t)at, &v, 1, r);
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  init();
  ssize_t r = real_pwrite(fd, buf, n, off);
  struct iovec v = {(void*)buf, n};
  record_write(fd, (uint64_t)off, &v, 1, r);
  return r;
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  init();
  off_t at = path_of(fd) ? lseek(fd, 0, SEEK_CUR) : 0;
  ssize_t r = real_writev(fd, iov, iovcnt);
  record_write(fd, (uint64_t)at, iov, iovcnt, r);
  return r;
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t off) {
  init();
  ssize_t r = real_pwritev(fd, iov, iovcnt, off);
  record_write(fd, (uint64_t)off, iov, iovcnt, r);
  return r;
}
ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t off)
    __attribute__((alias("pwritev")));

int ftruncate(int fd, off_t len) {
  init();
  int r = real_ftruncate(fd, len);
  const char* p = path_of(fd);
  if (r == 0 && p && !is_marks(p)) emit(OP_TRUNC, p, NULL, (uint64_t)len, NULL, 0);
  return r;
}
int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

static int sync_common(int fd, int (*real)(int)) {
  init();
  const char* p = path_of(fd);
  if (p && dropped(p)) return 0;
  int r = real(fd);
  if (r == 0 && p && !is_marks(p)) emit(OP_SYNC, p, NULL, 0, NULL, 0);
  return r;
}
int fsync(int fd) { return sync_common(fd, real_fsync); }
int fdatasync(int fd) { return sync_common(fd, real_fdatasync); }

int rename(const char* from, const char* to) {
  init();
  char* a = recorded(from);
  char* b = recorded(to);
  int r = real_rename(from, to);
  if (r == 0 && (a || b)) emit(OP_RENAME, a ? a : "", b ? b : "", 0, NULL, 0);
  free(a);
  free(b);
  return r;
}

int renameat(int fd1, const char* from, int fd2, const char* to) {
  init();
  if (fd1 != AT_FDCWD || fd2 != AT_FDCWD) return real_renameat(fd1, from, fd2, to);
  return rename(from, to);
}

int unlink(const char* path) {
  init();
  char* p = recorded(path);
  int r = real_unlink(path);
  if (r == 0 && p) emit(OP_UNLINK, p, NULL, 0, NULL, 0);
  free(p);
  return r;
}

int unlinkat(int dirfd, const char* path, int flags) {
  init();
  if (dirfd != AT_FDCWD || (flags & AT_REMOVEDIR)) return real_unlinkat(dirfd, path, flags);
  return unlink(path);
}
