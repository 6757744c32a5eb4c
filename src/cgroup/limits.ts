import { NotSupportedError } from '../errors.js';
import type { Size } from './size.js';

/** What the user asked for; every field is optional, absent means "leave as it is". */
export interface LimitsSpec {
  /** Hard limit: v1 memory.limit_in_bytes, v2 memory.max. */
  memory?: Size;
  /** Throttle point: v2 memory.high; v1 has none. */
  memoryHigh?: Size;
  /** Protection: v2 memory.low; v1 memory.soft_limit_in_bytes (the nearest, not the same). */
  memoryLow?: Size;
  /** Swap only: v2 memory.swap.max; v1 memory.memsw.limit_in_bytes = memory + swap. */
  swap?: Size;
  /** v2 memory.oom.group: kill the whole cgroup on OOM; v1 has none. */
  oomGroup?: boolean;
  /** false: v1 memory.oom_control oom_kill_disable=1; v2 has no such switch. */
  oomKill?: boolean;
}

/** One write to a control file of the cgroup, in the order given. */
export interface CgroupWrite {
  readonly file: string;
  readonly value: string;
}

/** What a v1 translation needs to know of the cgroup now (null = unlimited). */
export interface V1Current {
  limit: number | null;
  /** memory.memsw.limit_in_bytes; undefined when swap accounting is off (the file does not exist). */
  memswLimit: number | null | undefined;
}

export function isEmptySpec(spec: LimitsSpec): boolean {
  return Object.values(spec).every((v) => v === undefined);
}

/** cgroup v2: each knob is its own file (Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files"). */
export function v2Writes(spec: LimitsSpec): CgroupWrite[] {
  if (spec.oomKill === false) {
    throw new NotSupportedError(
      '--no-oom-kill: not supported on cgroup v2 (it has no switch to turn the OOM killer off for a cgroup); ' +
        'use --memory-high to throttle before the limit, or set oom_score_adj=-1000 on the processes to protect',
    );
  }
  const w: CgroupWrite[] = [];
  const v = (s: Size) => (s === 'max' ? 'max' : String(s));
  if (spec.memory !== undefined) w.push({ file: 'memory.max', value: v(spec.memory) });
  if (spec.memoryHigh !== undefined) w.push({ file: 'memory.high', value: v(spec.memoryHigh) });
  if (spec.memoryLow !== undefined) w.push({ file: 'memory.low', value: v(spec.memoryLow) });
  if (spec.swap !== undefined) w.push({ file: 'memory.swap.max', value: v(spec.swap) });
  if (spec.oomGroup !== undefined) w.push({ file: 'memory.oom.group', value: spec.oomGroup ? '1' : '0' });
  return w;
}

/**
 * cgroup v1 (Documentation/admin-guide/cgroup-v1/memory.rst). Needs the current limits because
 * memsw counts memory + swap, and the kernel rejects any moment where memsw < limit: the order of
 * the two writes depends on whether the limit goes up or down. When only --memory changes and memsw
 * is limited, the swap allowance (memsw − limit) is kept, so `--swap` keeps meaning "swap only".
 */
export function v1Writes(spec: LimitsSpec, current: V1Current): CgroupWrite[] {
  if (spec.memoryHigh !== undefined) {
    throw new NotSupportedError('--memory-high: not supported on cgroup v1 (memory.high exists only in v2); use --memory for a hard limit');
  }
  if (spec.oomGroup === true) {
    throw new NotSupportedError('--oom-group: not supported on cgroup v1 (memory.oom.group exists only in v2); v1 kills one process at a time');
  }
  const v = (n: number | null) => (n === null ? '-1' : String(n));
  const w: CgroupWrite[] = [];
  const newLimit = spec.memory === undefined ? current.limit : spec.memory === 'max' ? null : spec.memory;

  let newMemsw: number | null | undefined; // undefined: no memsw write
  if (spec.swap !== undefined) {
    if (current.memswLimit === undefined) {
      throw new NotSupportedError(
        '--swap: swap accounting is off on this kernel (no memory.memsw.limit_in_bytes); boot with swapaccount=1 to limit swap on cgroup v1',
      );
    }
    if (spec.swap === 'max') newMemsw = null;
    else if (newLimit === null) {
      throw new NotSupportedError(
        '--swap: on cgroup v1 swap can only be limited together with a memory limit (memory.memsw.limit_in_bytes = memory + swap); give --memory too',
      );
    } else newMemsw = newLimit + spec.swap;
  } else if (spec.memory !== undefined && typeof current.memswLimit === 'number') {
    const allowance = current.memswLimit - (current.limit ?? current.memswLimit);
    newMemsw = newLimit === null ? null : newLimit + allowance;
  }

  if (spec.memory !== undefined) {
    const limitWrite = { file: 'memory.limit_in_bytes', value: v(newLimit) };
    if (newMemsw === undefined) w.push(limitWrite);
    else {
      const memswWrite = { file: 'memory.memsw.limit_in_bytes', value: v(newMemsw) };
      const curMemsw = current.memswLimit ?? null;
      const raising = curMemsw !== null && (newLimit === null || newLimit > curMemsw);
      w.push(...(raising ? [memswWrite, limitWrite] : [limitWrite, memswWrite]));
    }
  } else if (newMemsw !== undefined) {
    w.push({ file: 'memory.memsw.limit_in_bytes', value: v(newMemsw) });
  }
  if (spec.memoryLow !== undefined) {
    w.push({ file: 'memory.soft_limit_in_bytes', value: v(spec.memoryLow === 'max' ? null : spec.memoryLow) });
  }
  if (spec.oomKill !== undefined) w.push({ file: 'memory.oom_control', value: spec.oomKill ? '0' : '1' });
  return w;
}
