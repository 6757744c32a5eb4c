/**
 * What the daemon's poll reads from a memory cgroup, whichever version the host runs: the sample
 * type, the per-cgroup sampler each backend opens (src/cgroup/v1/sampler.ts,
 * src/cgroup/v2/sampler.ts), and what both share: the reader that keeps each control file open
 * between polls, and the budget of descriptors it may keep.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import type { MemoryEvents } from './files/memoryEvents.js';
import type { MemoryPressure } from './files/memoryPressure.js';

/** One poll of a memory cgroup, v2 vocabulary (see CgroupStats for the meaning of each field). */
export interface MemorySample {
  readonly current: number;
  readonly max: number | null;
  readonly peak: number | null;
  readonly workingSet: number;
  readonly events: MemoryEvents;
  /** Kills of tasks in this very cgroup: v1 memory.oom_control oom_kill, v2 memory.events.local oom_kill. */
  readonly ownOomKills: number | null;
  /**
   * The processes those kills took: ownOomKills less what the kernel counts twice (a v2 group
   * kill's first victim, see src/cgroup/v2/sampler.ts); the same as ownOomKills on v1.
   */
  readonly ownKilledProcesses: number | null;
  readonly pressure: MemoryPressure | null;
  /**
   * The memory.stat text read for this sample (for the working set), null when it was not read
   * (usage 0): the early warner takes the few keys it needs from it, for the cgroups under a limit
   * only, without a second read.
   */
  readonly stat: string | null;
}

/** A cgroup's usage, limit and peak: what a kill's log line shows of its cgroup. */
export type CgroupUsage = Pick<MemorySample, 'current' | 'max' | 'peak'>;

/** Reads one cgroup's memory files at each poll; `close()` gives its descriptors back. */
export interface CgroupSampler {
  readonly path: string;
  /** Throws CgroupGoneError, NotMemoryCgroupError, or a read or parse error. */
  sample(): MemorySample;
  /**
   * Only the usage, limit and peak: three small files (v1 and v2 alike), without memory.stat and the
   * counters a sample reads besides. Throws as sample() does.
   */
  usage(): CgroupUsage;
  close(): void;
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
 * How many descriptors the samplers may keep open between polls, shared by all of them. A v1
 * cgroup needs up to 6: 10,000 cgroups would need 60,000, past the usual RLIMIT_NOFILE (EMFILE then
 * breaks discovery and the HTTP listener too). Past the budget, a file is opened, read and closed
 * on every poll instead (open on cgroupfs ≈ 11 µs here, several times the read: bench/README.md).
 */
export class FdBudget {
  constructor(private left: number) {}
  take(): boolean {
    if (this.left <= 0) return false;
    this.left--;
    return true;
  }
  give(): void {
    this.left++;
  }
}

export const UNLIMITED_FDS = new FdBudget(Infinity);

/**
 * Reads one cgroup's control files through file descriptors kept open between polls, each read
 * with `readSync(fd, buf, 0, len, 0)`: position 0 makes cgroupfs regenerate the file (a second
 * read without it returns 0 bytes). Three files cost ≈ 16–20 µs this way, ≈ 45 µs with
 * readFileSync (open and close each time).
 */
export class CgroupFileReader {
  private readonly fds = new Map<string, number | null>();
  /** Full paths of the files, for error messages: joined once, not on every poll (bench/README.md). */
  private readonly sources = new Map<string, string>();

  constructor(
    readonly path: string,
    readonly dir: string,
    private readonly budget: FdBudget = UNLIMITED_FDS,
  ) {}

  /** The file's text, or undefined when this kernel does not have it (remembered: not retried). */
  read(file: string): string | undefined {
    let fd = this.fds.get(file);
    if (fd === null) return undefined;
    let keep = true;
    if (fd === undefined) {
      keep = this.budget.take();
      try {
        fd = openSync(this.src(file), 'r');
      } catch (err) {
        if (keep) this.budget.give();
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
      if (keep) this.fds.set(file, fd);
    }
    try {
      const n = readSync(fd, BUF, 0, BUF.length, 0);
      return BUF.toString('latin1', 0, n);
    } catch (err) {
      if (isErrno(err, 'ENODEV', 'ENOENT')) throw new CgroupGoneError(`cgroup ${this.path} is gone`, { cause: err });
      throw err;
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  /** The file's text; NotMemoryCgroupError when the cgroup has no such file. */
  must(file: string): string {
    const t = this.read(file);
    if (t === undefined) throw new NotMemoryCgroupError(`cgroup ${this.path} has no ${file}: the memory controller is not enabled for it`);
    return t;
  }

  /** The file's full path (for error messages). */
  src(file: string): string {
    let p = this.sources.get(file);
    if (p === undefined) this.sources.set(file, (p = join(this.dir, file)));
    return p;
  }

  /**
   * memory.stat's text, for the working set (inactive file pages) and the early warner. An empty
   * cgroup (usage 0) has a working set of 0 whatever memory.stat says, so the file, by far the
   * dearest to generate (≈ 4–8 µs of kernel time, the others ≈ 1–2 µs), is not read then (null).
   */
  memoryStat(current: number): string | null {
    return current === 0 ? null : this.must('memory.stat');
  }

  close(): void {
    for (const fd of this.fds.values()) {
      if (fd !== null && fd !== undefined) {
        closeSync(fd);
        this.budget.give();
      }
    }
    this.fds.clear();
  }
}
