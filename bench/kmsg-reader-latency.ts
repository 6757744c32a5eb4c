/**
 * How fast does the kmsg reader deliver a record, what does it cost idle, how fast does it stop?
 * Notified by the kernel (the default on /dev/kmsg, src/kmsg/notifier.ts) against polling at
 * 1, 2 and 4 ms (`notify: false`). Not part of `npm test`. Needs root (and a v1 memory hierarchy
 * for the OOM part).
 *
 *   npm run build && node dist/bench/kmsg-reader-latency.js [--ooms N] [--writes N]
 *
 * Method:
 * - write→delivery: a marker is written to /dev/kmsg (fresh open per write), CLOCK_MONOTONIC taken
 *   just before the write; latency = arrival in onEvents − that time. Writes are spaced 10–25 ms at
 *   random, so the reader is idle when each arrives, as for a real OOM.
 * - kernel timestamp→delivery for real OOM kills: hogs are OOM-killed one at a time in a 64M v1
 *   cgroup under /sys/fs/cgroup/memory/oomwatch-capture/; the `Killed process` record's TS_USEC is
 *   mapped to CLOCK_MONOTONIC with an offset calibrated from markers (TS_USEC − the midpoint of the
 *   write), and latency = arrival − that.
 * - idle CPU: process.cpuUsage() over 3 s with nothing logged by us.
 *
 * Measured here (2026-11-28, Node 20.20.2, Linux 6.18, 2 vCPU VM, HZ=250):
 *   see bench/README.md ("kmsg reader") for the figures of the last run.
 */
import { mkdirSync, rmdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { openKmsgReader, type KmsgEvent } from '../src/kmsg/reader.js';
import { DEFAULT_ROOTS } from '../src/roots.js';
import { writeKmsg } from './lib/kmsgClock.js';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const WRITES = arg('--writes', 150);
const OOMS = arg('--ooms', 10);

const mono = (): number => Number(process.hrtime.bigint()) / 1e6; // ms, CLOCK_MONOTONIC
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (a: number[], p: number): string => {
  const s = [...a].sort((x, y) => x - y);
  return (s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN).toFixed(2);
};
const summary = (a: number[]): string => `n=${a.length} p50 ${pct(a, 0.5)} p90 ${pct(a, 0.9)} max ${pct(a, 1)} ms`;

async function idleCpu(ms: number): Promise<string> {
  const c0 = process.cpuUsage();
  const w0 = mono();
  await sleep(ms);
  const c = process.cpuUsage(c0);
  return `${(((c.user + c.system) / 1000 / (mono() - w0)) * 100).toFixed(2)} % of a core`;
}

interface Arrivals {
  onEvents: (evs: readonly KmsgEvent[]) => void;
  wait: (pred: (msg: string) => boolean, timeoutMs?: number) => Promise<{ at: number; tsUsec: number; message: string }>;
}

function arrivals(): Arrivals {
  const seen: { at: number; tsUsec: number; message: string }[] = [];
  return {
    onEvents: (evs) => {
      const at = mono();
      for (const e of evs) if (e.type === 'record') seen.push({ at, tsUsec: e.record.tsUsec, message: e.record.message });
    },
    wait: async (pred, timeoutMs = 10000) => {
      const end = mono() + timeoutMs;
      for (;;) {
        const i = seen.findIndex((s) => pred(s.message));
        if (i >= 0) return seen.splice(i, 1)[0]!;
        if (mono() > end) throw new Error('timed out');
        await sleep(1);
      }
    },
  };
}

async function benchReader(mode: Mode): Promise<void> {
  const a = arrivals();
  const t0 = mono();
  const running = await start(a, mode);
  const openMs = mono() - t0;
  const cpu = await idleCpu(3000);
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const m = `oomwatch-bench ${process.pid} ${mode} ${i}`;
    const w = mono();
    writeKmsg(m);
    const got = await a.wait((s) => s === m);
    lat.push(got.at - w);
    await sleep(10 + Math.random() * 15);
  }
  const note = await running.stop();
  console.log(`${modeLabel(mode).padEnd(24)} write→delivery ${summary(lat)}; idle CPU ${cpu}; open+skip to end ${openMs.toFixed(1)} ms; ${note}`);
}

interface Running {
  /** Resolves with a note on how the stop went. */
  stop(): Promise<string>;
}

type Mode = 'notify' | number;
const modeLabel = (m: Mode): string => (m === 'notify' ? 'notified by the kernel' : `polling every ${m} ms`);

async function start(a: Arrivals, mode: Mode): Promise<Running> {
  const reader = await openKmsgReader({
    roots: DEFAULT_ROOTS,
    from: 'end',
    onEvents: a.onEvents,
    ...(mode === 'notify' ? {} : { notify: false, pollIntervalMs: mode }),
  });
  if (reader.wakeMode !== (mode === 'notify' ? 'notify' : 'poll')) throw new Error(`wanted ${modeLabel(mode)}, got ${reader.wakeMode}: ${reader.notifierError}`);
  return {
    stop: async () => {
      const s0 = mono();
      await reader.stop();
      return `stop ${(mono() - s0).toFixed(2)} ms`;
    },
  };
}

/** Kernel timestamp → delivery for real OOM kills, with the kernel clock calibrated against CLOCK_MONOTONIC. */
async function benchOom(mode: Mode): Promise<void> {
  const mount = '/sys/fs/cgroup/memory';
  if (!existsSync(`${mount}/memory.limit_in_bytes`)) {
    console.log('no v1 memory hierarchy: OOM latency not measured');
    return;
  }
  const a = arrivals();
  const running = await start(a, mode);
  // Calibrate: TS_USEC of a marker vs the CLOCK_MONOTONIC midpoint of its write; keep the tightest.
  let best = { width: Infinity, offset: 0 };
  for (let i = 0; i < 20; i++) {
    const m = `oomwatch-bench ${process.pid} calibrate ${i}`;
    const t0 = mono();
    writeKmsg(m);
    const t1 = mono();
    const got = await a.wait((s) => s === m);
    if (t1 - t0 < best.width) best = { width: t1 - t0, offset: got.tsUsec / 1000 - (t0 + t1) / 2 };
  }
  const dir = `${mount}/oomwatch-capture/bench-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/memory.limit_in_bytes`, String(64 * 1024 * 1024));
  const lat: number[] = [];
  try {
    for (let i = 0; i < OOMS; i++) {
      const hog = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], { stdio: 'ignore' });
      const pid = hog.pid;
      await new Promise((r) => hog.once('exit', r));
      const re = new RegExp(`Killed process ${pid} \\(`);
      const got = await a.wait((s) => re.test(s));
      lat.push(got.at - (got.tsUsec / 1000 - best.offset));
      // The header and summary are rate-limited to 10 per 5 s; the kill line is not.
      await sleep(200);
    }
  } finally {
    await running.stop();
    for (let i = 0; i < 100; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
        await sleep(10);
      }
    }
    try {
      rmdirSync(`${mount}/oomwatch-capture`);
    } catch {
      // Another capture is still in there: leave the prefix to it.
    }
  }
  console.log(
    `real OOM kills, ${modeLabel(mode)}: kernel TS_USEC→delivery ${summary(lat)} ` +
      `(clock offset TS_USEC−MONOTONIC ${best.offset.toFixed(2)} ms, ±${(best.width / 2).toFixed(3)})`,
  );
}

console.log(`node ${process.version}, kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`);
const modes: Mode[] = ['notify', 1, 2, 4];
for (const m of modes) await benchReader(m);
for (const m of modes) await benchOom(m);
