/**
 * The machine's floor for kernel-log detection: bench/c/kmsg-floor.c (a blocking read(2) of
 * /dev/kmsg that prints CLOCK_MONOTONIC at each read's return), compiled with the system's cc into
 * a temp dir when the bench runs and run beside the daemon on the same kills. Its latency for a
 * record is computed exactly as the daemon's: that time − (the record's TS_USEC − the calibrated
 * kmsg clock offset). Root only (CAP_SYSLOG).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { children } from './cgroups.js';
import { sleep } from './stats.js';

/** bench/c/, in the checkout (the bench runs from dist/bench/lib/). */
export const C_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'c');

/** Temp dirs of compiled binaries not removed yet: removed at exit too (also after SIGINT/SIGTERM). */
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir, removed by `remove()` or at exit. */
function benchTempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-bench-c-'));
  tempDirs.add(dir);
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  };
  return { dir, remove };
}

/**
 * Compile bench/c/NAME.c with `cc -O2` into a fresh temp dir; returns the binary and a remover.
 * Throws with the compiler's message when there is no compiler or the file does not compile.
 */
export function compileC(name: string): { bin: string; dir: string; remove: () => void } {
  const { dir, remove } = benchTempDir();
  const bin = join(dir, name);
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, join(C_DIR, `${name}.c`)], { encoding: 'utf8' });
  if (r.status !== 0) {
    remove();
    throw new Error(`cc could not build bench/c/${name}.c: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return { bin, dir, remove };
}

export interface FloorRecord {
  /** CLOCK_MONOTONIC ms at the return of the read that got the record. */
  readonly readMs: number;
  /** The record's TS_USEC (kmsg clock). */
  readonly tsUsec: number;
  readonly message: string;
}

export interface FloorReader {
  readonly pid: number;
  /** The first record (read already or to come) whose text matches, within `timeoutMs`. */
  wait(pred: (message: string) => boolean, timeoutMs?: number): Promise<FloorRecord>;
  stop(): Promise<void>;
}

/**
 * Start the floor reader at `nice` (the daemon's); resolves once it has seeked to the end of the
 * log. Its output goes to a file, not a pipe: a pipe would wake this process for each of the ≈ 100
 * records of an OOM report, on the CPUs the daemon and the reader need at that very moment.
 * `command`: another reader with the same output (bench/node-floor.ts), run instead of the C one.
 */
export async function startFloorReader(nice: number, command?: readonly string[]): Promise<FloorReader> {
  // Another reader needs only a dir for its output; the C floor is compiled into its own.
  const c = command === undefined ? compileC('kmsg-floor') : undefined;
  const { dir, remove } = c ?? benchTempDir();
  const argv = command ?? [(c as { bin: string }).bin];
  const out = join(dir, 'records.txt');
  const outFd = openSync(out, 'w+');
  const [file, ...args] = argv;
  const child: ChildProcess = spawn(file as string, args, { stdio: ['ignore', outFd, 'pipe'] });
  children.add(child);
  setPriority(child.pid as number, nice);
  const records: FloorRecord[] = [];
  let stderr = '';
  let ready = false;
  let pos = 0;
  let rest = '';
  const buf = Buffer.alloc(1 << 16);
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // Take in what the reader has written since the last look.
  const take = () => {
    for (;;) {
      const got = readSync(outFd, buf, 0, buf.length, pos);
      if (got === 0) return;
      pos += got;
      const lines = (rest + buf.toString('latin1', 0, got)).split('\n');
      rest = lines.pop() as string;
      for (const line of lines) {
        if (line === 'ready') ready = true;
        // <mono µs>\t<prio,seq,ts_usec,flags>;<text>; dictionary lines (leading space) are skipped.
        const m = /^(\d+)\t\d+,\d+,(\d+),[^;]*;(.*)$/.exec(line);
        if (m !== null) records.push({ readMs: Number(m[1]) / 1000, tsUsec: Number(m[2]), message: m[3] as string });
      }
    }
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = async (cond: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (take(); !cond(); take()) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kmsg-floor exited before ${what}: ${stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`kmsg-floor: timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(10);
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    children.delete(child);
    closeSync(outFd);
    remove();
  };
  try {
    await until(() => ready, 5000, 'its ready line');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid as number,
    wait: async (pred, timeoutMs = 10_000) => {
      let hit: FloorRecord | undefined;
      await until(() => (hit = records.find((r) => pred(r.message))) !== undefined, timeoutMs, 'a record');
      return hit as FloorRecord;
    },
    stop,
  };
}
