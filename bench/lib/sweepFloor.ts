/**
 * The kernel's floor for the daemon's poll sweep: bench/c/sweep-floor.c reads the files the v1
 * sampler reads for an empty cgroup (memory.stat is skipped while usage is 0), kept open while the
 * open files limit allows and opened per sweep past it, and reports CPU µs per cgroup per sweep.
 */
import { spawnSync } from 'node:child_process';
import { compileC } from './kmsgFloor.js';

/** The v1 files the daemon reads for an empty cgroup on every poll (src/daemon/sampler.ts). */
export const V1_EMPTY_CGROUP_FILES = ['memory.usage_in_bytes', 'memory.oom_control', 'memory.limit_in_bytes', 'memory.max_usage_in_bytes', 'memory.failcnt'];

export interface SweepFloor {
  readonly kept: number;
  readonly other: number;
  readonly keptUs: number;
  readonly otherUs: number;
}

/** The floor, or why it could not be measured (no C compiler). */
export function sweepFloor(dirs: readonly string[], sweeps: number, files = V1_EMPTY_CGROUP_FILES): SweepFloor | Error {
  let c: ReturnType<typeof compileC>;
  try {
    c = compileC('sweep-floor');
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  try {
    const r = spawnSync(c.bin, [String(sweeps), ...files], { input: `${dirs.join('\n')}\n`, encoding: 'utf8' });
    const m = /kept=(\d+) other=(\d+) kept_us=([\d.]+) other_us=([\d.]+)/.exec(r.stdout);
    if (r.status !== 0 || m === null) throw new Error(`sweep-floor failed: ${r.error?.message ?? r.stderr}`);
    return { kept: Number(m[1]), other: Number(m[2]), keptUs: Number(m[3]), otherUs: Number(m[4]) };
  } finally {
    c.remove();
  }
}
