/**
 * Real cgroup v1 helpers for tests: every cgroup a test makes lives under
 * /sys/fs/cgroup/memory/oomwatch-test/<pid>-<n>, and is removed (its processes, all started
 * by the test, killed by PID first) in `cleanup()`, also when the test fails.
 */
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { V1_MEMORY_MOUNT } from './privileged.js';

export const TEST_PREFIX = 'oomwatch-test';
let counter = 0;

export interface TestCgroup {
  /** Relative to the memory hierarchy's root, no leading slash: `oomwatch-test/123-1`. */
  readonly name: string;
  /** As the kernel prints it: `/oomwatch-test/123-1`. */
  readonly kernelPath: string;
  readonly dir: string;
  cleanup(): Promise<void>;
}

/** A fresh, unique cgroup name under the test prefix (not created). */
export function uniqueTestName(label = 'cg'): string {
  counter += 1;
  return `${TEST_PREFIX}/${process.pid}-${label}-${counter}`;
}

/** Create a v1 memory cgroup (and missing parents) with an optional limit in bytes. */
export function makeV1Cgroup(label = 'cg', limitBytes?: number): TestCgroup {
  const name = uniqueTestName(label);
  const dir = join(V1_MEMORY_MOUNT, name);
  mkdirSync(dir, { recursive: true });
  if (limitBytes !== undefined) writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
  return {
    name,
    kernelPath: `/${name}`,
    dir,
    cleanup: async () => {
      await removeCgroupTree(dir);
      removePrefixIfEmpty();
    },
  };
}

/** Remove the shared test prefix once no test cgroup is left in it. */
export function removePrefixIfEmpty(): void {
  try {
    rmdirSync(join(V1_MEMORY_MOUNT, TEST_PREFIX));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // EBUSY/ENOTEMPTY: another test's cgroup is still there; ENOENT: already gone.
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY' && code !== 'ENOENT') throw err;
  }
}

function pidsOf(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kill (by PID) the processes in a test cgroup tree, wait until empty, and rmdir bottom-up. */
export async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  }
  for (let i = 0; i < 200; i++) {
    const pids = pidsOf(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  rmdirSync(dir);
}

/**
 * Start `argv` inside the cgroup at `dir` from its first instruction: a shell writes its own
 * PID into cgroup.procs, then execs the command.
 */
export function spawnInCgroup(dir: string, argv: string[]): ChildProcess {
  return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** Resolves with the child's exit code and signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** A dependable hog: dd with a 128 MiB block touches every page of its buffer. */
export const HOG = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'];

/** Parse a v1 memory.oom_control into its counters. */
export function oomControl(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(join(dir, 'memory.oom_control'), 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) out[k] = Number(v);
  }
  return out;
}

/**
 * The kernel rate-limits OOM report headers and summaries host-wide (mm/oom_kill.c oom_rs: 10 per
 * 5 s). After a storm, the next test's kill would come without the report that names its cgroup:
 * a test that causes a storm waits the window out when it ends. A fixed wait, as nothing tells when
 * the kernel's window ends.
 */
export const OOM_REPORT_RATELIMIT_MS = 5_500;
export function waitOutOomReportRateLimit(): Promise<void> {
  return new Promise((r) => setTimeout(r, OOM_REPORT_RATELIMIT_MS));
}
