import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, isErrno } from '../../errors.js';
import {
  CgroupFsBackend, type CgroupStats, type MemoryBackend, cgroupFsError, killByPid, readOptional, writeControl,
} from '../backend.js';
import { parseMemoryOomControl } from '../files/memoryOomControl.js';
import { parseMemoryStat, workingSet } from '../files/memoryStat.js';
import { parseMemoryValue } from '../files/memoryValue.js';
import { type CgroupWrite, type LimitsSpec, v1Writes } from '../limits.js';
import { ancestors } from '../name.js';
import type { FdBudget } from '../sampler.js';
import { V1CgroupSampler } from './sampler.js';

/** cgroup v1 memory controller (Documentation/admin-guide/cgroup-v1/memory.rst). */
export class V1MemoryBackend extends CgroupFsBackend implements MemoryBackend {
  readonly version = 1 as const;

  exists(path: string): boolean {
    return existsSync(join(this.dir(path), 'memory.usage_in_bytes'));
  }

  openSampler(path: string, budget?: FdBudget): V1CgroupSampler {
    return new V1CgroupSampler(path, this.dir(path), budget);
  }

  /** Every v1 memory cgroup, the root too, has the memory files. */
  /** v1 has no "no internal processes" rule: a cgroup with processes may have children. */
  leaveOwnCgroupFor(): null {
    return null;
  }

  canSample(): boolean {
    return true;
  }

  hasMemoryFiles(path: string): boolean {
    return this.exists(path);
  }

  private value(path: string, file: string): number | null {
    return parseMemoryValue(this.read(path, file), join(this.dir(path), file));
  }

  create(path: string): string[] {
    const created: string[] = [];
    for (const p of [...ancestors(path), path]) {
      try {
        mkdirSync(this.dir(p));
        created.push(p);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) continue;
        throw cgroupFsError(err, 'create', p, this.dir(p));
      }
    }
    return created;
  }

  writesFor(path: string, spec: LimitsSpec): CgroupWrite[] {
    if (!this.exists(path)) {
      // A cgroup about to be created starts unlimited; swap accounting is a host-wide fact.
      const swapAccounting = existsSync(join(this.mount, 'memory.memsw.limit_in_bytes'));
      return v1Writes(spec, { limit: null, memswLimit: swapAccounting ? null : undefined });
    }
    const memsw = readOptional(join(this.dir(path), 'memory.memsw.limit_in_bytes'));
    return v1Writes(spec, {
      limit: this.value(path, 'memory.limit_in_bytes'),
      memswLimit: memsw === undefined ? undefined : parseMemoryValue(memsw, 'memory.memsw.limit_in_bytes'),
    });
  }

  apply(path: string, writes: readonly CgroupWrite[]): void {
    for (const w of writes) {
      try {
        writeControl(join(this.dir(path), w.file), w.value);
      } catch (err) {
        if (w.file === 'memory.limit_in_bytes' && isErrno(err, 'EBUSY')) {
          throw new OomwatchError(
            'EBUSY',
            `cannot set memory.limit_in_bytes=${w.value} on cgroup ${path}: its usage is above the new limit and the kernel could not reclaim enough; stop some of its processes or choose a larger limit`,
            { cause: err },
          );
        }
        if (w.file.startsWith('memory.memsw') && isErrno(err, 'EINVAL')) {
          throw new OomwatchError(
            'EREJECTED',
            `cannot set ${w.file}=${w.value} on cgroup ${path}: the kernel requires memory.memsw.limit_in_bytes >= memory.limit_in_bytes`,
            { cause: err },
          );
        }
        throw cgroupFsError(err, 'configure', path, `${w.file}=${w.value}`);
      }
    }
  }

  stats(path: string): CgroupStats {
    const dir = this.dir(path);
    const current = this.value(path, 'memory.usage_in_bytes') ?? 0;
    const max = this.value(path, 'memory.limit_in_bytes');
    const memswText = readOptional(join(dir, 'memory.memsw.limit_in_bytes'));
    const memsw = memswText === undefined ? null : parseMemoryValue(memswText, join(dir, 'memory.memsw.limit_in_bytes'));
    const oom = parseMemoryOomControl(this.read(path, 'memory.oom_control'), join(dir, 'memory.oom_control'));
    const stat = parseMemoryStat(this.read(path, 'memory.stat'), join(dir, 'memory.stat'));
    return {
      path,
      version: 1,
      current,
      max,
      high: null,
      low: this.value(path, 'memory.soft_limit_in_bytes'),
      swap_max: memsw === null || max === null ? null : memsw - max,
      peak: this.value(path, 'memory.max_usage_in_bytes'),
      working_set: workingSet(current, stat, 1),
      events: {
        low: null,
        high: null,
        max: this.value(path, 'memory.failcnt'),
        oom: null,
        oom_kill: oom.oom_kill,
        oom_group_kill: null,
      },
      events_local: null,
      pressure: null,
      oom_group: null,
      oom_kill_disable: oom.oom_kill_disable,
      under_oom: oom.under_oom,
      pids: this.pids(path),
    };
  }

  /** v1 has no cgroup.kill: SIGKILL every member by PID, bottom-up, until the tree is empty. */
  killAll(path: string, timeoutMs = 5000): Promise<void> {
    return killByPid(this, path, timeoutMs);
  }
}
