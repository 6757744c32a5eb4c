import { readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, isErrno } from '../errors.js';
import type { MemoryEvents } from './files/memoryEvents.js';
import type { MemoryPressure } from './files/memoryPressure.js';
import type { CgroupWrite, LimitsSpec } from './limits.js';
import type { CgroupSampler, FdBudget } from './sampler.js';
import { parsePidList } from './files/memoryValue.js';
import { cgroupDir } from './name.js';

/**
 * A memory cgroup's state in the v2 vocabulary, whichever version the host runs.
 * null: the kernel has no such file on this version; Infinity never appears (unlimited is null).
 */
export interface CgroupStats {
  path: string;
  version: 1 | 2;
  current: number;
  max: number | null;
  high: number | null;
  low: number | null;
  swap_max: number | null;
  peak: number | null;
  working_set: number;
  /** v1: max = memory.failcnt, oom_kill from memory.oom_control, the rest null. */
  events: MemoryEvents;
  /** v2 memory.events.local (this level only); null on v1 or kernels without it. */
  events_local: MemoryEvents | null;
  /** v2 memory.pressure (PSI); null on v1 or kernels without PSI. */
  pressure: MemoryPressure | null;
  oom_group: boolean | null;
  /** v1 memory.oom_control; null on v2. */
  oom_kill_disable: boolean | null;
  under_oom: boolean | null;
  pids: number[];
}

/** The operations `oomwatch cgroup` needs, one implementation per cgroup version. Paths are kernel form (`/a/b`). */
export interface MemoryBackend {
  readonly version: 1 | 2;
  readonly mount: string;
  dir(path: string): string;
  exists(path: string): boolean;
  /** Create the cgroup and missing ancestors; returns the paths it created, top down. */
  create(path: string): string[];
  /** Translate a spec to writes for this cgroup (pure translation plus what it must read now). */
  writesFor(path: string, spec: LimitsSpec): CgroupWrite[];
  apply(path: string, writes: readonly CgroupWrite[]): void;
  stats(path: string): CgroupStats;
  /**
   * A sampler for the daemon's poll: the cgroup's memory files kept open (within `budget`),
   * read at each sample().
   */
  openSampler(path: string, budget?: FdBudget): CgroupSampler;
  /** false for a cgroup this version never gives memory files (the v2 root): never sampled. */
  canSample(path: string): boolean;
  /** Whether the cgroup has its memory files now (v2: once its parent enables the controller). */
  hasMemoryFiles(path: string): boolean;
  /**
   * Make room to create `paths` when some lie below the calling process's own cgroup: on v2 the
   * "no internal processes" rule refuses +memory in a cgroup that holds processes, so the process
   * (the daemon under a unit with Delegate=yes) moves itself into a leaf of its own cgroup first.
   * Returns the move made, or null when none was needed (always on v1). Throws when it cannot move.
   */
  leaveOwnCgroupFor(paths: readonly string[]): { from: string; to: string } | null;
  pids(path: string): number[];
  /** Direct child cgroups, as kernel paths. */
  children(path: string): string[];
  classify(path: string, pid: number): void;
  /** Kill every process in the cgroup (and its descendants) and wait until it is empty. */
  killAll(path: string, timeoutMs?: number): Promise<void>;
  /** rmdir; the cgroup must have no processes and no children. */
  remove(path: string): void;
}

/** Turn a filesystem error on a cgroup file into an error that names the cgroup, the file and the fix. */
export function cgroupFsError(err: unknown, op: string, cgroup: string, file: string): OomwatchError {
  if (isErrno(err, 'EACCES', 'EPERM', 'EROFS')) {
    return new OomwatchError('ENOTROOT', `cannot ${op} cgroup ${cgroup} (${file}): permission denied; run as root, or delegate this subtree to your user`, { cause: err });
  }
  if (isErrno(err, 'ENOENT')) {
    return new OomwatchError('ENOCGROUP', `cannot ${op} cgroup ${cgroup}: ${file} does not exist; check the name with 'oomwatch cgroup ls'`, { cause: err });
  }
  if (isErrno(err, 'EBUSY')) {
    return new OomwatchError('EBUSY', `cannot ${op} cgroup ${cgroup} (${file}): the kernel says busy (${(err as Error).message})`, { cause: err });
  }
  if (isErrno(err, 'EINVAL')) {
    return new OomwatchError('EREJECTED', `cannot ${op} cgroup ${cgroup}: the kernel rejected the value for ${file} (invalid argument)`, { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new OomwatchError('EIO', `cannot ${op} cgroup ${cgroup} (${file}): ${msg}`, { cause: err });
}

/** Read a file (a control file the kernel may not have, a state file not yet written); undefined on ENOENT. */
export function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Write one value to a control file, the whole value in one write(2), as cgroupfs expects. */
export function writeControl(file: string, value: string): void {
  writeFileSync(file, value);
}

export function childDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Kill a cgroup tree without cgroup.kill: SIGKILL every member by PID, descendants first, until
 * the tree is empty. A process forking meanwhile is caught by the next round.
 */
export async function killByPid(backend: MemoryBackend, path: string, timeoutMs: number): Promise<void> {
  for (const child of backend.children(path)) await killByPid(backend, child, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = backend.pids(path);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new OomwatchError('EBUSY', `cgroup ${path} still has processes ${pids.join(' ')} after SIGKILL for ${timeoutMs} ms (stuck in uninterruptible sleep?)`);
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        // ESRCH: it exited between the read of cgroup.procs and the kill.
        if (!isErrno(err, 'ESRCH')) throw err;
      }
    }
    await sleep(10);
  }
}

/** What both versions' backends do the same way on cgroupfs: paths, membership, the tree, rmdir. */
export abstract class CgroupFsBackend {
  constructor(readonly mount: string) {}

  dir(path: string): string {
    return cgroupDir(this.mount, path);
  }

  /** A control file's text; errors name the cgroup and the file. */
  protected read(path: string, file: string): string {
    try {
      return readFileSync(join(this.dir(path), file), 'utf8');
    } catch (err) {
      throw cgroupFsError(err, 'read', path, file);
    }
  }

  /** A control file's text, or undefined when this kernel does not have it. */
  protected optional(path: string, file: string): string | undefined {
    try {
      return readOptional(join(this.dir(path), file));
    } catch (err) {
      throw cgroupFsError(err, 'read', path, file);
    }
  }

  pids(path: string): number[] {
    return parsePidList(this.read(path, 'cgroup.procs'), join(this.dir(path), 'cgroup.procs'));
  }

  children(path: string): string[] {
    try {
      return childDirs(this.dir(path)).map((n) => (path === '/' ? `/${n}` : `${path}/${n}`));
    } catch (err) {
      throw cgroupFsError(err, 'list', path, this.dir(path));
    }
  }

  /** Move a process (its whole thread group) into the cgroup. */
  classify(path: string, pid: number): void {
    try {
      writeControl(join(this.dir(path), 'cgroup.procs'), String(pid));
    } catch (err) {
      if (isErrno(err, 'ESRCH')) throw new OomwatchError('EIO', `cannot move pid ${pid} into cgroup ${path}: no such process`, { cause: err });
      throw this.classifyError(err, path, pid) ?? cgroupFsError(err, `move pid ${pid} into`, path, 'cgroup.procs');
    }
  }

  /** A version's own explanation of a refused move, if it has one. */
  protected classifyError(_err: unknown, _path: string, _pid: number): OomwatchError | undefined {
    return undefined;
  }

  remove(path: string): void {
    try {
      rmdirSync(this.dir(path));
    } catch (err) {
      throw cgroupFsError(err, 'remove', path, this.dir(path));
    }
  }
}
