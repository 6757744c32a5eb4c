/*
 * The machine's floor for detecting a kernel log record: the least a userspace reader can do.
 * Blocking read(2) of /dev/kmsg (one record per read, 8 KiB buffer: a record is at most
 * 1024 bytes of text plus its prefix and dictionary), after seeking to the end, so only records
 * logged from now on are read. Each record is printed on stdout as
 *
 *     <CLOCK_MONOTONIC µs at the return of read()>\t<the record as read, without its newline>
 *
 * taken before anything else is done with it. "ready" is printed once the seek is done. Compiled
 * and run by bench/lib/kmsgFloor.ts, stdout to a file; needs CAP_SYSLOG (root) like every
 * /dev/kmsg reader.
 *
 *   gcc -O2 -o kmsg-floor kmsg-floor.c && ./kmsg-floor
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  static char buf[8192];
  int fd = open("/dev/kmsg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "kmsg-floor: open /dev/kmsg: %s\n", strerror(errno));
    return 1;
  }
  if (lseek(fd, 0, SEEK_END) < 0) {
    fprintf(stderr, "kmsg-floor: seek to the end of /dev/kmsg: %s\n", strerror(errno));
    return 1;
  }
  /* Line-buffered would still hold a line until the newline; write each record out at once. */
  setvbuf(stdout, NULL, _IONBF, 0);
  fputs("ready\n", stdout);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (n < 0) {
      /* EPIPE: the ring buffer overwrote records we had not read; the next read goes on after them. */
      if (errno == EPIPE || errno == EINTR) continue;
      fprintf(stderr, "kmsg-floor: read /dev/kmsg: %s\n", strerror(errno));
      return 1;
    }
    if (n == 0) return 0;
    if (buf[n - 1] == '\n') n--;
    /* The text escapes control characters (dev-kmsg ABI); dictionary lines (" KEY=value") follow it,
       each after a newline: the reader of this output keeps the lines that start with a time. */
    char line[8192 + 32];
    int head = snprintf(line, 32, "%lld\t", (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
    memcpy(line + head, buf, (size_t)n);
    line[head + n] = '\n';
    if (write(STDOUT_FILENO, line, (size_t)head + (size_t)n + 1) < 0) return errno == EPIPE ? 0 : 1;
  }
}
