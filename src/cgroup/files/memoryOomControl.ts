import { parseFlatKeyed } from './flatKeyed.js';
import { ParseError } from '../../errors.js';

/**
 * v1 memory.oom_control (Documentation/admin-guide/cgroup-v1/memory.rst 10): `oom_kill_disable`,
 * `under_oom`, and `oom_kill` (4.13+; counts kills of tasks in this cgroup, not its descendants).
 */
export interface MemoryOomControl {
  oom_kill_disable: boolean;
  under_oom: boolean;
  /** null on kernels before 4.13, which do not print it. */
  oom_kill: number | null;
}

export function parseMemoryOomControl(text: string, source = 'memory.oom_control'): MemoryOomControl {
  const m = parseFlatKeyed(text, source);
  const disable = m.get('oom_kill_disable');
  const under = m.get('under_oom');
  if (disable === undefined || under === undefined) {
    throw new ParseError(source, `missing oom_kill_disable or under_oom in ${JSON.stringify(text)}`);
  }
  return { oom_kill_disable: disable === 1, under_oom: under === 1, oom_kill: m.get('oom_kill') ?? null };
}
