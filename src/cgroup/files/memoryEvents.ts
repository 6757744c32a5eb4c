import { parseFlatKeyed } from './flatKeyed.js';

/**
 * v2 memory.events / memory.events.local (Documentation/admin-guide/cgroup-v2.rst):
 * `low`, `high`, `max`, `oom`, `oom_kill`, and `oom_group_kill` since 5.17. memory.events is
 * hierarchical, memory.events.local counts this level only. A key the kernel does not print is null.
 */
export interface MemoryEvents {
  low: number | null;
  high: number | null;
  max: number | null;
  oom: number | null;
  oom_kill: number | null;
  oom_group_kill: number | null;
}

export const MEMORY_EVENT_KEYS = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'] as const;

export function parseMemoryEvents(text: string, source = 'memory.events'): MemoryEvents {
  const m = parseFlatKeyed(text, source);
  return {
    low: m.get('low') ?? null,
    high: m.get('high') ?? null,
    max: m.get('max') ?? null,
    oom: m.get('oom') ?? null,
    oom_kill: m.get('oom_kill') ?? null,
    oom_group_kill: m.get('oom_group_kill') ?? null,
  };
}
