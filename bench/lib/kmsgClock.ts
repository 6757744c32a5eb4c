/**
 * Markers written to /dev/kmsg, and the kernel clock calibrated against CLOCK_MONOTONIC with them
 * (the kmsg timestamp, the kernel's local clock, ran ≈ 1.4 ms ahead of CLOCK_MONOTONIC on the
 * machine these benchmarks were written on: a latency taken from a record's timestamp must be
 * corrected by the offset measured with a marker). Shared by
 * bench/kmsg-reader-latency.ts and bench/daemon.ts. Needs root (reading /dev/kmsg needs CAP_SYSLOG).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { openKmsgReader, type KmsgEvent } from '../../src/kmsg/reader.js';
import { DEFAULT_ROOTS } from '../../src/roots.js';
import { monoMs, sleep } from './stats.js';

/** One userspace record; a fresh open per write (printk_devkmsg=ratelimit is per open file). */
export function writeKmsg(text: string): void {
  const fd = openSync('/dev/kmsg', 'w');
  try {
    writeSync(fd, `${text}\n`);
  } finally {
    closeSync(fd);
  }
}

export interface ClockOffset {
  /** TS_USEC/1000 − CLOCK_MONOTONIC ms: subtract it from a kernel timestamp to get CLOCK_MONOTONIC. */
  readonly offsetMs: number;
  /** Half the width of the tightest write: the offset's uncertainty. */
  readonly errorMs: number;
}

/**
 * The offset of the kmsg clock from CLOCK_MONOTONIC: `n` markers, each timed around its write;
 * the record's TS_USEC against the midpoint of the tightest write.
 */
export async function calibrateKernelClock(n = 20): Promise<ClockOffset> {
  const seen = new Map<string, number>();
  const reader = await openKmsgReader({
    roots: DEFAULT_ROOTS,
    from: 'end',
    pollIntervalMs: 1,
    onEvents: (evs: readonly KmsgEvent[]) => {
      for (const e of evs) if (e.type === 'record') seen.set(e.record.message, e.record.tsUsec);
    },
  });
  let best = { width: Infinity, offset: 0 };
  try {
    for (let i = 0; i < n; i++) {
      const m = `oomwatch-bench ${process.pid} calibrate ${i}`;
      const t0 = monoMs();
      writeKmsg(m);
      const t1 = monoMs();
      const deadline = t1 + 2000;
      while (!seen.has(m)) {
        if (monoMs() > deadline) throw new Error('calibration marker not read back within 2 s');
        await sleep(1);
      }
      if (t1 - t0 < best.width) best = { width: t1 - t0, offset: (seen.get(m) as number) / 1000 - (t0 + t1) / 2 };
    }
  } finally {
    await reader.stop();
  }
  return { offsetMs: best.offset, errorMs: best.width / 2 };
}
