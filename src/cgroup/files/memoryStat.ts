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

/**
 * What reclaim cannot free, from a memory.stat text, in bytes: anonymous memory, shmem/tmpfs (no
 * swap here to push either to), and on v2 the kernel memory that is not reclaimable slab.
 * v1 (hierarchical `total_*` keys): `total_rss` (anon, shmem excluded) + `total_shmem`; v1's
 * memory.stat has no kernel-memory breakdown (it is in memory.kmem.usage_in_bytes), so kernel
 * memory is left out there. v2: `anon` + `shmem` + `kernel` − `slab_reclaimable` (5.18+ prints
 * `kernel`; older kernels: `kernel_stack` + `pagetables` + `percpu` + `sock` + `slab_unreclaimable`).
 * Page cache (`file` less shmem) is not in it: the kernel reclaims it before it OOM-kills.
 * undefined when the text lacks the anon key (not a memory.stat).
 */
export function unreclaimableBytes(text: string, version: 1 | 2): number | undefined {
  if (version === 1) {
    const rss = memoryStatValue(text, 'total_rss');
    if (rss === undefined) return undefined;
    return rss + (memoryStatValue(text, 'total_shmem') ?? 0);
  }
  const anon = memoryStatValue(text, 'anon');
  if (anon === undefined) return undefined;
  const shmem = memoryStatValue(text, 'shmem') ?? 0;
  const kernel = memoryStatValue(text, 'kernel');
  const kernelUnreclaimable =
    kernel !== undefined
      ? Math.max(0, kernel - (memoryStatValue(text, 'slab_reclaimable') ?? 0))
      : ['kernel_stack', 'pagetables', 'percpu', 'sock', 'slab_unreclaimable'].reduce((a, k) => a + (memoryStatValue(text, k) ?? 0), 0);
  return anon + shmem + kernelUnreclaimable;
}

/**
 * v1 `hierarchical_memory_limit`: the smallest limit of the cgroup and its ancestors, the one that
 * applies. null when unlimited (≥ 2^62, see parseCount), undefined when absent (v2 has no such key).
 */
export function hierarchicalMemoryLimit(text: string): number | null | undefined {
  let at = text.indexOf('\nhierarchical_memory_limit ');
  if (at < 0) return undefined;
  at += '\nhierarchical_memory_limit '.length;
  let end = text.indexOf('\n', at);
  if (end < 0) end = text.length;
  const raw = text.slice(at, end);
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 2 ** 62 ? null : n;
}

/** The keys of memory.stat that say where a cgroup's memory is, for a warning's or a kill's log line. */
export const STAT_BREAKDOWN_KEYS: Readonly<Record<1 | 2, readonly string[]>> = {
  1: ['total_rss', 'total_shmem', 'total_cache', 'total_mapped_file', 'total_active_file', 'total_inactive_file', 'total_active_anon', 'total_inactive_anon', 'total_unevictable', 'total_dirty', 'total_writeback', 'total_swap'],
  2: ['anon', 'file', 'kernel', 'kernel_stack', 'pagetables', 'percpu', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'slab_reclaimable', 'slab_unreclaimable', 'active_anon', 'inactive_anon', 'active_file', 'inactive_file', 'unevictable'],
};

/** The breakdown keys present in a memory.stat text, in bytes. */
export function statBreakdown(text: string, version: 1 | 2): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of STAT_BREAKDOWN_KEYS[version]) {
    const v = memoryStatValue(text, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
