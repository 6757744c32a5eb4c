/*
 * Run a command as a whole process and print what it cost: wall time from fork to its reaping
 * (CLOCK_MONOTONIC) and its peak RSS (wait4's ru_maxrss: the largest resident set of the process,
 * across exec), plus user and system CPU. The command's stdout goes to /dev/null; its stderr is
 * left as it is. One line on stdout:
 *
 *     wall_us=<n> maxrss_kb=<n> user_us=<n> sys_us=<n> status=<exit code, or 128+signal>
 *
 * Compiled and run by bench/cli.ts.   gcc -O2 -o rusage rusage.c && ./rusage CMD ARGS...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: rusage CMD [ARGS...]\n", stderr);
    return 2;
  }
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull < 0) {
    fprintf(stderr, "rusage: open /dev/null: %s\n", strerror(errno));
    return 1;
  }
  long long t0 = mono_us();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "rusage: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0) {
    dup2(devnull, STDOUT_FILENO);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "rusage: exec %s: %s\n", argv[1], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "rusage: wait4: %s\n", strerror(errno));
      return 1;
    }
  }
  long long wall = mono_us() - t0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("wall_us=%lld maxrss_kb=%ld user_us=%lld sys_us=%lld status=%d\n", wall, ru.ru_maxrss,
         (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
         (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, code);
  return 0;
}
