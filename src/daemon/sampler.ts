import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import { parseMemoryEvents, type MemoryEvents } from '../cgroup/files/memoryEvents.js';
import { parseMemoryOomControl } from '../cgroup/files/memoryOomControl.js';
import { parseMemoryPressure, type MemoryPressure } from '../cgroup/files/memoryPressure.js';
import { memoryStatValue } from '../cgroup/files/memoryStat.js';
import { parseMemoryValue } from '../cgroup/files/memoryValue.js';

/** One poll of a memory cgroup, v2 vocabulary (see CgroupStats for the meaning of each field). */
export interface MemorySample {
  readonly current: number;
  readonly max: number | null;
  readonly peak: number | null;
  readonly workingSet: number;
  readonly events: MemoryEvents;
  /** Kills of tasks in this very cgroup: v1 memory.oom_control oom_kill, v2 memory.events.local oom_kill. */
  readonly ownOomKills: number | null;
  readonly pressure: MemoryPressure | null;
}

/** The cgroup's directory is gone (rmdir while we read): ENOENT on open, ENODEV on read. */
export class CgroupGoneError extends Error {
  readonly code = 'ECGROUPGONE';
}

/**
 * The directory is there but has no memory files: on v2, the parent does not enable the memory
 * controller for it (cgroup.subtree_control). Not an error: it is just not a memory cgroup.
 */
export class NotMemoryCgroupError extends Error {
  readonly code = 'ENOTMEMCG';
}

const BUF = Buffer.allocUnsafe(64 * 1024);

/**
 * Reads one cgroup's memory files through file descriptors kept open between polls, each read with
 * `readSync(fd, buf, 0, len, 0)`: position 0 makes cgroupfs regenerate the file (a second read
 * without it returns 0 bytes). FACTS: ≈ 16–20 µs for 3 files, vs ≈ 45 µs with readFileSync.
 */
export class CgroupSampler {
  private readonly fds = new Map<string, number | null>();

  constructor(
    readonly path: string,
    readonly dir: string,
    readonly version: 1 | 2,
  ) {}

  /** The file's text, or undefined when this kernel does not have it (remembered: not retried). */
  private read(file: string): string | undefined {
    let fd = this.fds.get(file);
    if (fd === null) return undefined;
    if (fd === undefined) {
      try {
        fd = openSync(join(this.dir, file), 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) {
          // No such file: either the kernel lacks it or the cgroup is gone; tell them apart once.
          try {
            closeSync(openSync(join(this.dir, 'cgroup.procs'), 'r'));
          } catch (e2) {
            if (isErrno(e2, 'ENOENT', 'ENODEV')) throw new CgroupGoneError(`cgroup ${this.path} is gone`, { cause: e2 });
            throw e2;
          }
          this.fds.set(file, null);
          return undefined;
        }
        throw err;
      }
      this.fds.set(file, fd);
    }
    try {
      const n = readSync(fd, BUF, 0, BUF.length, 0);
      return BUF.toString('latin1', 0, n);
    } catch (err) {
      if (isErrno(err, 'ENODEV', 'ENOENT')) throw new CgroupGoneError(`cgroup ${this.path} is gone`, { cause: err });
      throw err;
    }
  }

  private must(file: string): string {
    const t = this.read(file);
    if (t === undefined) throw new NotMemoryCgroupError(`cgroup ${this.path} has no ${file}: the memory controller is not enabled for it`);
    return t;
  }

  sample(): MemorySample {
    const src = (f: string) => join(this.dir, f);
    if (this.version === 1) {
      const current = parseMemoryValue(this.must('memory.usage_in_bytes'), src('memory.usage_in_bytes')) ?? 0;
      const oom = parseMemoryOomControl(this.must('memory.oom_control'), src('memory.oom_control'));
      const inactive = memoryStatValue(this.must('memory.stat'), 'total_inactive_file') ?? 0;
      return {
        current,
        max: parseMemoryValue(this.must('memory.limit_in_bytes'), src('memory.limit_in_bytes')),
        peak: parseMemoryValue(this.must('memory.max_usage_in_bytes'), src('memory.max_usage_in_bytes')),
        workingSet: Math.max(0, current - inactive),
        events: { low: null, high: null, max: parseMemoryValue(this.must('memory.failcnt'), src('memory.failcnt')), oom: null, oom_kill: oom.oom_kill, oom_group_kill: null },
        ownOomKills: oom.oom_kill,
        pressure: null,
      };
    }
    const current = parseMemoryValue(this.must('memory.current'), src('memory.current')) ?? 0;
    const inactive = memoryStatValue(this.must('memory.stat'), 'inactive_file') ?? 0;
    const peak = this.read('memory.peak');
    const local = this.read('memory.events.local');
    const pressure = this.read('memory.pressure');
    return {
      current,
      max: parseMemoryValue(this.must('memory.max'), src('memory.max')),
      peak: peak === undefined ? null : parseMemoryValue(peak, src('memory.peak')),
      workingSet: Math.max(0, current - inactive),
      events: parseMemoryEvents(this.must('memory.events'), src('memory.events')),
      ownOomKills: local === undefined ? null : parseMemoryEvents(local, src('memory.events.local')).oom_kill,
      pressure: pressure === undefined ? null : parseMemoryPressure(pressure, src('memory.pressure')),
    };
  }

  close(): void {
    for (const fd of this.fds.values()) {
      if (fd !== null && fd !== undefined) closeSync(fd);
    }
    this.fds.clear();
  }
}
