/*
 * The kernel's floor for one poll sweep: the CPU time (user + sys, getrusage) of reading the same
 * memory cgroup files the daemon reads, with nothing else done. Cgroup directories come on stdin,
 * one a line; the files are the arguments after SWEEPS. The first cgroups get their files opened
 * once and kept open, as long as the open files limit allows (less 64); each kept file is read
 * with pread(fd, buf, 4096, 0) (position 0 makes cgroupfs generate it again). The rest are
 * opened, read and closed on every sweep, as the daemon does past its fd budget. One line out:
 *
 *     kept=<cgroups> other=<cgroups> kept_us=<CPU µs per kept cgroup per sweep> other_us=<same, per other>
 *
 * Compiled and run by bench/lib/sweepFloor.ts.   sweep-floor SWEEPS FILE... < dirs
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_CGROUPS 100000
#define MAX_FILES 16

static char *dirs[MAX_CGROUPS];
static int fds[MAX_CGROUPS][MAX_FILES];

static long long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void fail(const char *what, const char *path) {
  fprintf(stderr, "sweep-floor: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc - 2 > MAX_FILES) {
    fputs("usage: sweep-floor SWEEPS FILE... < cgroup directories\n", stderr);
    return 2;
  }
  int sweeps = atoi(argv[1]);
  char **files = argv + 2;
  int nfiles = argc - 2;
  static char line[4096], path[8192], buf[4096];
  int n = 0;
  while (n < MAX_CGROUPS && fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\n")] = 0;
    if (line[0] != 0) dirs[n++] = strdup(line);
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  long budget = (long)rl.rlim_cur - 64;
  int kept = 0;
  while (kept < n && (long)(kept + 1) * nfiles <= budget) {
    for (int f = 0; f < nfiles; f++) {
      snprintf(path, sizeof path, "%s/%s", dirs[kept], files[f]);
      if ((fds[kept][f] = open(path, O_RDONLY | O_CLOEXEC)) < 0) fail("open", path);
    }
    kept++;
  }
  long long keptCpu = 0, otherCpu = 0;
  for (int s = 0; s < sweeps; s++) {
    long long t0 = cpu_us();
    for (int c = 0; c < kept; c++)
      for (int f = 0; f < nfiles; f++)
        if (pread(fds[c][f], buf, sizeof buf, 0) < 0) fail("read", dirs[c]);
    long long t1 = cpu_us();
    for (int c = kept; c < n; c++)
      for (int f = 0; f < nfiles; f++) {
        snprintf(path, sizeof path, "%s/%s", dirs[c], files[f]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("open", path);
        if (pread(fd, buf, sizeof buf, 0) < 0) fail("read", path);
        close(fd);
      }
    keptCpu += t1 - t0;
    otherCpu += cpu_us() - t1;
  }
  printf("kept=%d other=%d kept_us=%.2f other_us=%.2f\n", kept, n - kept, kept > 0 ? (double)keptCpu / sweeps / kept : 0.0,
         n > kept ? (double)otherCpu / sweeps / (n - kept) : 0.0);
  return 0;
}
