import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotSupportedError, OomwatchError, isErrno } from '../../errors.js';
import {
  CgroupFsBackend, type CgroupStats, type MemoryBackend, cgroupFsError, killByPid, sleep, writeControl,
} from '../backend.js';
import { parseMemoryEvents } from '../files/memoryEvents.js';
import { parseMemoryPressure } from '../files/memoryPressure.js';
import { parseMemoryStat, workingSet } from '../files/memoryStat.js';
import { parseMemoryValue } from '../files/memoryValue.js';
import { type CgroupWrite, type LimitsSpec, v2Writes } from '../limits.js';
import { ancestors } from '../name.js';
import type { FdBudget } from '../sampler.js';
import { V2CgroupSampler } from './sampler.js';

const words = (text: string | undefined) => (text ?? '').trim().split(/\s+/).filter(Boolean);

/** cgroup v2 memory controller (Documentation/admin-guide/cgroup-v2.rst, "Memory"). */
export class V2MemoryBackend extends CgroupFsBackend implements MemoryBackend {
  readonly version = 2 as const;

  exists(path: string): boolean {
    return existsSync(join(this.dir(path), 'cgroup.procs'));
  }

  openSampler(path: string, budget?: FdBudget): V2CgroupSampler {
    return new V2CgroupSampler(path, this.dir(path), budget);
  }

  /** The v2 root has no memory.current, memory.max or memory.events.local. */
  /**
   * Documentation/admin-guide/cgroup-v2.rst, "no internal processes": a cgroup declared below this
   * process's own cgroup needs +memory in that cgroup's cgroup.subtree_control, which the kernel
   * refuses (EBUSY) while this process is in it — the case of the systemd unit (Delegate=yes: its
   * cgroups go under /system.slice/oomwatch.service). So the process first moves itself into a
   * leaf of its own cgroup, `<own>/daemon`, as systemd 254's DelegateSubgroup= would (Debian 12's
   * systemd 252 has no such setting). Its own cgroup comes from the real /proc/self/cgroup (the
   * `0::` line): it is this process's, not the observed host's.
   */
  leaveOwnCgroupFor(paths: readonly string[]): { from: string; to: string } | null {
    const own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (own === undefined || own === '/' || !paths.some((p) => p.startsWith(`${own}/`))) return null;
    // Our cgroup is not in the tree this backend sees (a test's fixture tree).
    if (!this.exists(own)) return null;
    const leaf = `${own}/daemon`;
    if (paths.some((p) => p === leaf || p.startsWith(`${leaf}/`))) return null;
    // A plain mkdir: create() would first enable +memory in our own cgroup, the very write the
    // kernel refuses until we have left it.
    mkdirSync(this.dir(leaf), { recursive: true });
    this.classify(leaf, process.pid);
    return { from: own, to: leaf };
  }

  canSample(path: string): boolean {
    return path !== '/';
  }

  hasMemoryFiles(path: string): boolean {
    return this.canSample(path) && existsSync(join(this.dir(path), 'memory.current'));
  }

  /** A missing memory.* file in a cgroup that exists means the controller is not enabled for it. */
  protected override read(path: string, file: string): string {
    try {
      return super.read(path, file);
    } catch (err) {
      if (err instanceof OomwatchError && err.code === 'ENOCGROUP' && file.startsWith('memory.') && this.exists(path)) {
        throw new OomwatchError(
          'ECONTROLLER',
          `cgroup ${path} has no ${file}: the memory controller is not enabled for it; ` +
            `add it with 'echo +memory > ${join(this.dir(path), '..', 'cgroup.subtree_control')}' (or create it with 'oomwatch cgroup create', which does that)`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Make sure the memory controller is available in `parent` and enabled for its children.
   * The kernel refuses (EBUSY) to enable a controller in the subtree_control of a non-root cgroup
   * that has processes of its own: the "no internal processes" rule.
   */
  private enableMemoryFor(parent: string): void {
    const dir = this.dir(parent);
    if (!words(this.read(parent, 'cgroup.controllers')).includes('memory')) {
      throw new OomwatchError(
        'ECONTROLLER',
        `the memory controller is not available in cgroup ${parent} (${join(dir, 'cgroup.controllers')} lacks "memory"): ` +
          `enable it in its parent's cgroup.subtree_control, or on a systemd host create cgroups under a delegated unit (Delegate=yes)`,
      );
    }
    if (words(this.read(parent, 'cgroup.subtree_control')).includes('memory')) return;
    try {
      writeControl(join(dir, 'cgroup.subtree_control'), '+memory');
    } catch (err) {
      if (isErrno(err, 'EBUSY')) {
        const pids = this.pids(parent);
        throw new OomwatchError(
          'EBUSY',
          `cannot enable the memory controller for the children of cgroup ${parent}: it holds processes of its own (${pids.slice(0, 10).join(' ')}), ` +
            `and cgroup v2's "no internal processes" rule forbids that; move them into a leaf cgroup first (e.g. ${parent === '/' ? '' : parent}/leaf)`,
          { cause: err },
        );
      }
      throw cgroupFsError(err, 'enable +memory in', parent, 'cgroup.subtree_control');
    }
  }

  create(path: string): string[] {
    const created: string[] = [];
    const chain = [...ancestors(path), path];
    let parent = '/';
    for (const p of chain) {
      this.enableMemoryFor(parent);
      try {
        mkdirSync(this.dir(p));
        created.push(p);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw cgroupFsError(err, 'create', p, this.dir(p));
      }
      parent = p;
    }
    return created;
  }

  writesFor(_path: string, spec: LimitsSpec): CgroupWrite[] {
    return v2Writes(spec);
  }

  apply(path: string, writes: readonly CgroupWrite[]): void {
    for (const w of writes) {
      try {
        writeControl(join(this.dir(path), w.file), w.value);
      } catch (err) {
        if (isErrno(err, 'ENOENT') && this.exists(path)) {
          if (w.file === 'memory.swap.max') {
            throw new NotSupportedError(`--swap: cgroup ${path} has no memory.swap.max: this kernel has no swap accounting (CONFIG_MEMCG_SWAP, or swapaccount=0)`);
          }
          if (w.file === 'memory.oom.group') {
            throw new NotSupportedError(`--oom-group: cgroup ${path} has no memory.oom.group: the kernel is older than 4.19`);
          }
        }
        throw cgroupFsError(err, 'configure', path, `${w.file}=${w.value}`);
      }
    }
  }

  stats(path: string): CgroupStats {
    if (path === '/') {
      throw new NotSupportedError('the root cgroup has no memory.current or memory.max on cgroup v2; show a child cgroup, or read /proc/meminfo for the host');
    }
    const dir = this.dir(path);
    const value = (file: string) => parseMemoryValue(this.read(path, file), join(dir, file));
    const optValue = (file: string) => {
      const t = this.optional(path, file);
      return t === undefined ? null : parseMemoryValue(t, join(dir, file));
    };
    const current = value('memory.current') ?? 0;
    const stat = parseMemoryStat(this.read(path, 'memory.stat'), join(dir, 'memory.stat'));
    const local = this.optional(path, 'memory.events.local');
    const pressure = this.optional(path, 'memory.pressure');
    const group = this.optional(path, 'memory.oom.group');
    return {
      path,
      version: 2,
      current,
      max: value('memory.max'),
      high: value('memory.high'),
      low: value('memory.low'),
      swap_max: optValue('memory.swap.max'),
      peak: optValue('memory.peak'),
      working_set: workingSet(current, stat, 2),
      events: parseMemoryEvents(this.read(path, 'memory.events'), join(dir, 'memory.events')),
      events_local: local === undefined ? null : parseMemoryEvents(local, join(dir, 'memory.events.local')),
      pressure: pressure === undefined ? null : parseMemoryPressure(pressure, join(dir, 'memory.pressure')),
      oom_group: group === undefined ? null : group.trim() === '1',
      oom_kill_disable: null,
      under_oom: null,
      pids: this.pids(path),
    };
  }

  /** cgroup v2 keeps processes out of cgroups that hand controllers to their children. */
  protected override classifyError(err: unknown, path: string, pid: number): OomwatchError | undefined {
    if (!isErrno(err, 'EBUSY', 'EOPNOTSUPP')) return undefined;
    const sub = words(this.optional(path, 'cgroup.subtree_control'));
    return new OomwatchError(
      'EBUSY',
      `cannot move pid ${pid} into cgroup ${path}: it enables controllers for its children (cgroup.subtree_control: ${sub.join(' ') || 'none'}), ` +
        `and cgroup v2's "no internal processes" rule allows processes only in leaves; use a child cgroup such as ${path}/leaf`,
      { cause: err },
    );
  }

  /** cgroup.kill (5.14+) kills the whole subtree at once; older kernels fall back to SIGKILL by PID. */
  async killAll(path: string, timeoutMs = 5000): Promise<void> {
    const killFile = join(this.dir(path), 'cgroup.kill');
    if (!existsSync(killFile)) return killByPid(this, path, timeoutMs);
    try {
      writeControl(killFile, '1');
    } catch (err) {
      throw cgroupFsError(err, 'kill the processes of', path, 'cgroup.kill');
    }
    const deadline = Date.now() + timeoutMs;
    while (/^populated 1$/m.test(this.read(path, 'cgroup.events'))) {
      if (Date.now() > deadline) throw new OomwatchError('EBUSY', `cgroup ${path} is still populated ${timeoutMs} ms after cgroup.kill`);
      await sleep(5);
    }
  }
}
