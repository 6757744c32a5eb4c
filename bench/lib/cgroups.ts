/**
 * Real v1 memory cgroups for the benchmarks, all under /sys/fs/cgroup/memory/oomwatch-bench/ and
 * removed afterwards: at the end of the run, on failure, and on SIGINT/SIGTERM (the hogs this
 * process started are killed first, by PID, so the directories can go).
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

export const MEMORY_MOUNT = '/sys/fs/cgroup/memory';
export const BENCH_DIR = join(MEMORY_MOUNT, 'oomwatch-bench');
/** The kernel's path form of BENCH_DIR. */
export const BENCH_CGROUP = '/oomwatch-bench';

/** Children (hogs, daemons) to kill by PID if the run is interrupted. */
export const children = new Set<ChildProcess>();

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function hasV1Memory(): boolean {
  return existsSync(join(MEMORY_MOUNT, 'memory.limit_in_bytes'));
}

/** Create `count` empty cgroups BENCH_DIR/<group>/c<i>; returns their kernel paths. */
export function makeCgroups(group: string, count: number, from = 0): string[] {
  const dir = join(BENCH_DIR, group);
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (let i = from; i < from + count; i++) {
    const name = `c${String(i).padStart(5, '0')}`;
    const d = join(dir, name);
    if (!existsSync(d)) mkdirSync(d);
    out.push(`${BENCH_CGROUP}/${group}/${name}`);
  }
  return out;
}

/** A cgroup with a memory limit (bytes), for OOM kills. */
export function makeLimited(name: string, limitBytes: number): { dir: string; path: string } {
  const dir = join(BENCH_DIR, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
  return { dir, path: `${BENCH_CGROUP}/${name}` };
}

/** v1 memory.oom_control `oom_kill` of a bench cgroup: the kernel's own count of kills in it. */
export function oomKillCount(dir: string): number {
  const m = /(?:^|\n)oom_kill (\d+)/.exec(readFileSync(join(dir, 'memory.oom_control'), 'latin1'));
  if (m === null) throw new Error(`${dir}/memory.oom_control has no oom_kill line (kernel < 4.13?)`);
  return Number(m[1]);
}

/** rmdir a cgroup tree, leaves first. A cgroup still holding a dying task gives EBUSY: retry. */
export function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  // Control files are files; only sub-cgroups are directories (kernfs fills in d_type).
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** Kill our children and remove BENCH_DIR. Synchronous, so it also works from a signal handler. */
export function cleanupSync(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch (err) {
        // ESRCH: it exited between the check and the kill; nothing else can fail here.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }
  removeTree(BENCH_DIR);
}

let installed = false;
/** Remove the bench cgroups on SIGINT/SIGTERM (exit 130/143) and on normal exit. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: removing ${BENCH_DIR}`);
      try {
        cleanupSync();
      } finally {
        process.exit(code);
      }
    });
  }
  process.once('exit', () => {
    try {
      cleanupSync();
    } catch (err) {
      console.error(`cleanup of ${BENCH_DIR} failed: ${String(err)}`);
    }
  });
}

/** A `dd bs=BS count=1` started in the cgroup at `dir`: one hog to be OOM-killed; resolves when it exits. */
export function hog(dir: string, bs: string): Promise<{ pid: number; signal: NodeJS.Signals | null }> {
  const c = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, 'dd', 'if=/dev/zero', 'of=/dev/null', `bs=${bs}`, 'count=1'], { stdio: 'ignore' });
  children.add(c);
  return new Promise((resolve, reject) => {
    c.once('error', reject);
    c.once('exit', (_code, signal) => {
      children.delete(c);
      resolve({ pid: c.pid as number, signal });
    });
  });
}
