import { parseFlatKeyed } from './flatKeyed.js';

/**
 * memory.stat (v1: Documentation/admin-guide/cgroup-v1/memory.rst 5.2; v2: cgroup-v2.rst).
 * Returns every key; v1's `total_*` keys are hierarchical, the plain ones local.
 */
export function parseMemoryStat(text: string, source = 'memory.stat'): Map<string, number> {
  return parseFlatKeyed(text, source);
}

/**
 * The working set as cAdvisor and the kubelet define it: usage minus inactive file pages, never
 * below 0. v1 uses the hierarchical `total_inactive_file`, v2 `inactive_file`.
 */
export function workingSet(usage: number, stat: Map<string, number>, version: 1 | 2): number {
  const inactive = (version === 1 ? stat.get('total_inactive_file') : stat.get('inactive_file')) ?? 0;
  return Math.max(0, usage - inactive);
}

/**
 * One key of a memory.stat text without parsing the rest: the poll loop needs only
 * inactive_file, and memory.stat has 40–60 lines. Returns undefined when the key is absent.
 */
export function memoryStatValue(text: string, statKey: string): number | undefined {
  let at = text.startsWith(`${statKey} `) ? 0 : text.indexOf(`\n${statKey} `);
  if (at < 0) return undefined;
  if (at > 0 || text[0] === '\n') at += 1;
  const start = at + statKey.length + 1;
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  const n = Number(text.slice(start, end));
  return Number.isSafeInteger(n) ? n : undefined;
}
