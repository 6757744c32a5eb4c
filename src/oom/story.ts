/**
 * One kill's story (pure): what the kernel's OOM report said about a kill, arranged to answer the
 * questions a person asks after one. Which process, in which cgroup and whose; which limit fired
 * at what usage; what the memory was made of; why the kernel chose this process over the others;
 * who died with it; what to change. Every part is read from a field of the kill event (or the
 * daemon's names for it); a part whose field is missing says so in `missing` and stays null.
 *
 * The composition is read the way the kernel accounts memory (Documentation/admin-guide/cgroup-v2.rst
 * "memory.stat", Documentation/admin-guide/cgroup-v1/memory.rst "stat file"):
 * - v2 (`anon`, `file`, `kernel`, ... keys): `file` includes `shmem` (tmpfs, shm), so page cache is
 *   file − shmem; `kernel` holds slab, kernel stacks, page tables, percpu and vmalloc; `sock`
 *   (socket buffers) is charged beside it;
 * - v1 (`rss`, `cache`, ...; `total_*` for the subtree, printed by 6.x kernels): `cache` includes
 *   `shmem`; kernel memory is the `kmem:` counter (charged to `memory:` as well);
 * - a system OOM's Mem-Info: shmem pages sit on the anon LRU lists, so anonymous memory is
 *   active_anon + inactive_anon − shmem; page cache is active_file + inactive_file.
 */
import { formatBytes } from '../cgroup/size.js';
import type { OomCandidate } from './badness.js';
import { pageSizeOfRss } from './badness.js';
import type { OomKillEvent } from './event.js';
import type { MemcgCounter, MemoryStat } from './memcgMeminfo.js';
import type { MemInfo } from './memInfo.js';
import { limitFired, type LimitFired } from './limit.js';
import type { ContainerRuntime, PodQos } from './owner.js';

/** What the daemon adds to a kill (its kill log line's names); null where unknown. */
export interface StoryNames {
  namespace: string | null;
  pod: string | null;
  container: string | null;
  image: string | null;
  container_name: string | null;
  limit: LimitFired | null;
  main_process: boolean | null;
}

export interface StoryCounter {
  usage_bytes: number;
  /** `'max'`: no limit. */
  limit_bytes: number | 'max';
  failcnt: number;
}

/** One part of the memory, largest first in `composition.parts`. */
export interface StoryPart {
  /** anon, page_cache, shmem, kernel, sock, not_broken_down. */
  kind: 'anon' | 'page_cache' | 'shmem' | 'kernel' | 'sock' | 'not_broken_down';
  bytes: number;
  /** Share of `composition.total_bytes`, 0..1. */
  share: number;
  /** The fields it was computed from, as the kernel named them (`file - shmem`, `kmem usage`). */
  from: string;
}

export interface StoryCandidate {
  pid: number;
  process: string;
  /** oom_badness() in pages; null for a task the kernel would not kill (oom_score_adj -1000) or an unknown domain. */
  badness: number | null;
  /** The same without the oom_score_adj term: rss + swap entries + page-table pages; null without the rss. */
  points_without_adj: number | null;
  oom_score_adj: number | null;
  rss_bytes: number | null;
  victim: boolean;
}

export interface Story {
  pid: number;
  /** The comm; null when the kill line was cut before it (a partial kill). */
  process: string | null;
  /** The kill line could not be read whole (the event's `partial`). */
  partial: boolean;
  /** An old `Kill process … or sacrifice child` line without its `Killed process` line: the process killed may be a child. */
  possibly_child: boolean;
  uid: number | null;
  /** RFC 3339, UTC; null when the input had no clock for it. */
  kill_time: string | null;
  kernel_time_us: number | null;
  seq: number | null;
  /** When the daemon found it (its record); null from a log. */
  detected_at: string | null;
  /** The process's memory at the kill (its kill line), in bytes. */
  rss: { anon_bytes: number | null; file_bytes: number | null; shmem_bytes: number | null; total_bytes: number | null; page_tables_bytes: number | null; total_vm_bytes: number | null };
  oom_score_adj: number | null;
  /** The task whose allocation invoked the OOM killer. */
  trigger_process: string | null;
  /** Whether it was its container's init process (the daemon's names); null when unknown. */
  main_process: boolean | null;
  victim_cgroup: string | null;
  owner: {
    unit: string | null;
    runtime: ContainerRuntime | null;
    container_id: string | null;
    container: string | null;
    container_name: string | null;
    image: string | null;
    pod_uid: string | null;
    pod_qos: PodQos | null;
    namespace: string | null;
    pod: string | null;
  };
  limit: {
    scope: 'cgroup' | 'system' | null;
    /** Whose limit: container, pod, node, ancestor, own; none for the system; null when the report does not tell. */
    fired: LimitFired | null;
    /** The cgroup whose limit was hit; null for a system OOM or when unknown. */
    oom_cgroup: string | null;
    constraint: string | null;
    memory: StoryCounter | null;
    /** v1 memory+swap, v2 swap, v1 kmem, as printed. */
    memsw: StoryCounter | null;
    swap: StoryCounter | null;
    kmem: StoryCounter | null;
    /** v1: the memory+swap limit was the one reached (usage at its limit). */
    memsw_at_limit: boolean;
    /**
     * The cgroup version the report was printed for: 2 with a `swap:` line or v2 stat keys, 1 with
     * `memory+swap:`/`kmem:` lines or v1 stat keys; null for a system OOM or when neither was there.
     */
    cgroup_version: 1 | 2 | null;
  };
  composition: {
    /** `cgroup-v2`, `cgroup-v1` (the OOM cgroup's stat block), `system` (Mem-Info). */
    source: 'cgroup-v2' | 'cgroup-v1' | 'system';
    /** What the shares are of: the OOM cgroup's usage, or the sum of the parts, or the system's RAM. */
    total_bytes: number;
    total_is: 'usage' | 'sum_of_parts' | 'ram';
    /** v1 only: the `total_*` keys (the whole subtree) were read; false: the cgroup's own pages only. */
    subtree: boolean | null;
    parts: StoryPart[];
    /** Details a part's advice uses, bytes, from the keys named: dirty, writeback, mapped, slab, ... */
    detail: Record<string, number>;
    /** A system OOM: free memory and swap at the OOM. */
    free_bytes: number | null;
    swap_total_bytes: number | null;
    swap_free_bytes: number | null;
  } | null;
  candidates: {
    /** How many tasks the report's table listed. */
    total: number | null;
    /** The first few in the kernel's order (highest badness first). */
    kept: StoryCandidate[];
    /** The victim's place in `kept` (0: the kernel's first choice); null when it is not among them. */
    victim_rank: number | null;
    /** The next task after the victim among those kept; null when there is none. */
    next: StoryCandidate | null;
    /** victim's badness / next's badness, when both are positive. */
    ratio_to_next: number | null;
    /** True when ordering the kept tasks without oom_score_adj puts another first. */
    adj_changed_order: boolean | null;
    /** The first of the kept tasks by points without oom_score_adj. */
    first_without_adj: StoryCandidate | null;
    /** Pids of kept tasks the kernel never kills (oom_score_adj -1000). */
    exempt: number[];
  } | null;
  group: {
    /** memory.oom.group: the kernel killed every process of the cgroup. */
    group_kill: boolean;
    /** Whether any of the kill's report was in the input; without it group_kill false means unknown. */
    report_seen: boolean;
    /** The other kills of the same report, as given. */
    killed_with_it: Array<{ pid: number; process: string | null; victim_cgroup: string | null }>;
  };
  /** What to change, each with the fact it rests on. */
  advice: Array<{ kind: string; text: string }>;
  /** What the input did not have, in words. */
  missing: string[];
}

/**
 * True when two kills came from the same OOM report's group kill: both group kills of the same
 * OOM cgroup with the same counters and task count (one report prints them once for all its kills).
 */
export function sameGroupReport(a: OomKillEvent, b: OomKillEvent): boolean {
  if (!a.group_kill || !b.group_kill || a.oom_cgroup !== b.oom_cgroup || a.candidates_total !== b.candidates_total) return false;
  if (a.memory === null || b.memory === null) return a.memory === b.memory && a.kernel_time_us !== null && a.kernel_time_us === b.kernel_time_us;
  return a.memory.usage === b.memory.usage && a.memory.failcnt === b.memory.failcnt && a.memory.limit === b.memory.limit;
}

/**
 * The kills of the same group-kill report as `events[i]`: the run of neighbours around it that
 * sameGroupReport() joins (a report's kill lines follow each other in the log).
 */
export function groupSiblings(events: readonly OomKillEvent[], i: number): OomKillEvent[] {
  const e = events[i];
  if (e === undefined || !e.group_kill) return [];
  let lo = i;
  let hi = i;
  while (lo > 0 && sameGroupReport(events[lo - 1] as OomKillEvent, e)) lo--;
  while (hi < events.length - 1 && sameGroupReport(events[hi + 1] as OomKillEvent, e)) hi++;
  return events.slice(lo, hi + 1).filter((_, k) => k + lo !== i);
}

const NO_NAMES: StoryNames = { namespace: null, pod: null, container: null, image: null, container_name: null, limit: null, main_process: null };

function counter(c: MemcgCounter | null | undefined): StoryCounter | null {
  return c === null || c === undefined ? null : { usage_bytes: c.usage, limit_bytes: c.limit, failcnt: c.failcnt };
}

const kb = (v: number | null): number | null => (v === null ? null : v * 1024);

/** A stat value in bytes, or null when absent (or `'max'`, which only limits print). */
function statBytes(stat: MemoryStat, key: string): number | null {
  const v = stat[key];
  return typeof v === 'number' ? v : null;
}

function partsByShare(parts: Array<Omit<StoryPart, 'share'>>, total: number): StoryPart[] {
  return parts
    .filter((p) => p.bytes > 0)
    .map((p) => ({ ...p, share: total > 0 ? p.bytes / total : 0 }))
    .sort((a, b) => b.bytes - a.bytes);
}

/** The part of the usage the parts do not explain, when the usage is known and larger. */
function remainder(usage: number | null, parts: Array<Omit<StoryPart, 'share'>>): Array<Omit<StoryPart, 'share'>> {
  if (usage === null) return parts;
  const sum = parts.reduce((s, p) => s + p.bytes, 0);
  return usage > sum ? [...parts, { kind: 'not_broken_down', bytes: usage - sum, from: 'usage - the other parts' }] : parts;
}

function compositionOf(e: OomKillEvent, missing: string[]): Story['composition'] {
  const stat = e.memory_stat;
  const usage = e.memory?.usage ?? null;
  if (stat !== null && Object.keys(stat).length > 0) {
    if (statBytes(stat, 'anon') !== null || statBytes(stat, 'file') !== null) return v2Composition(stat, usage);
    if (statBytes(stat, 'rss') !== null || statBytes(stat, 'total_rss') !== null || statBytes(stat, 'cache') !== null) {
      return v1Composition(stat, usage, e.memory?.kmem?.usage ?? null);
    }
    missing.push("the report's stat block has none of the keys read here (anon, file; rss, cache)");
    return null;
  }
  if (e.mem_info !== null && Object.keys(e.mem_info).length > 0) return systemComposition(e.mem_info, missing);
  if (e.scope === 'system') missing.push("the report's Mem-Info block was not in the input: what the system's memory was made of is unknown");
  else missing.push("the report's stat block (`Memory cgroup stats for`) was not in the input: what the memory was made of is unknown");
  return null;
}

/** `a - b` or `a + b + c` of the keys that are there; null when none is. */
function expr(stat: Record<string, number | 'max'>, plus: readonly string[], minus: readonly string[] = []): { bytes: number; from: string } | null {
  const p = plus.filter((k) => typeof stat[k] === 'number');
  if (p.length === 0) return null;
  const m = minus.filter((k) => typeof stat[k] === 'number');
  const sum = (ks: string[]): number => ks.reduce((t, k) => t + (stat[k] as number), 0);
  return { bytes: Math.max(0, sum(p) - sum(m)), from: [p.join(' + '), ...m].join(' - ') };
}

/** The parts that are there, each from the keys named. */
function present(list: Array<[StoryPart['kind'], { bytes: number; from: string } | null]>): Array<Omit<StoryPart, 'share'>> {
  return list.flatMap(([kind, x]) => (x === null ? [] : [{ kind, ...x }]));
}

function v2Composition(stat: MemoryStat, usage: number | null): NonNullable<Story['composition']> {
  const detail: Record<string, number> = {};
  for (const k of ['file_dirty', 'file_writeback', 'file_mapped', 'slab', 'slab_reclaimable', 'slab_unreclaimable', 'kernel_stack', 'pagetables', 'percpu', 'vmalloc', 'sock', 'swapcached', 'anon_thp', 'zswap']) {
    const v = statBytes(stat, k);
    if (v !== null && v > 0) detail[k] = v;
  }
  // Kernels before 5.18 print no `kernel` key: its pieces, where printed, stand in for it.
  const kernel = statBytes(stat, 'kernel') !== null ? expr(stat, ['kernel']) : expr(stat, ['slab', 'kernel_stack', 'pagetables', 'percpu', 'vmalloc']);
  let parts = present([
    ['anon', expr(stat, ['anon'])],
    ['page_cache', expr(stat, ['file'], ['shmem'])],
    ['shmem', expr(stat, ['shmem'])],
    ['kernel', kernel],
    ['sock', expr(stat, ['sock'])],
  ]);
  parts = remainder(usage, parts);
  const total = usage ?? parts.reduce((s, p) => s + p.bytes, 0);
  return { source: 'cgroup-v2', total_bytes: total, total_is: usage === null ? 'sum_of_parts' : 'usage', subtree: null, parts: partsByShare(parts, total), detail, free_bytes: null, swap_total_bytes: null, swap_free_bytes: null };
}

function v1Composition(stat: MemoryStat, usage: number | null, kmem: number | null): NonNullable<Story['composition']> {
  // 6.x kernels print the subtree's totals (`total_*`); older ones the OOM cgroup's own pages inline.
  const subtree = statBytes(stat, 'total_rss') !== null;
  const p = subtree ? 'total_' : '';
  const detail: Record<string, number> = {};
  for (const k of ['dirty', 'writeback', 'mapped_file', 'swap', 'rss_huge']) {
    const v = statBytes(stat, `${p}${k}`);
    if (v !== null && v > 0) detail[k] = v;
  }
  const withKmem: MemoryStat = kmem === null ? stat : { ...stat, 'kmem usage': kmem };
  let parts = present([
    ['anon', expr(stat, [`${p}rss`])],
    ['page_cache', expr(stat, [`${p}cache`], [`${p}shmem`])],
    ['shmem', expr(stat, [`${p}shmem`])],
    ['kernel', expr(withKmem, ['kmem usage'])],
  ]);
  parts = remainder(usage, parts);
  const total = usage ?? parts.reduce((s, x) => s + x.bytes, 0);
  return { source: 'cgroup-v1', total_bytes: total, total_is: usage === null ? 'sum_of_parts' : 'usage', subtree, parts: partsByShare(parts, total), detail, free_bytes: null, swap_total_bytes: null, swap_free_bytes: null };
}

function systemComposition(m: MemInfo, missing: string[]): Story['composition'] {
  const get = (k: string): number | null => m[k] ?? null;
  const detail: Record<string, number> = {};
  for (const k of ['slab_reclaimable', 'slab_unreclaimable', 'pagetables', 'unevictable', 'dirty', 'writeback', 'mapped', 'swap_cache']) {
    const v = get(k);
    if (v !== null && v > 0) detail[k] = v;
  }
  // shmem sits on the anon LRU lists; when it is more than they hold (locked shmem is on the
  // unevictable list) the anon LRU is shown as it is.
  const anonLru = expr(m, ['active_anon', 'inactive_anon']);
  const shmem = get('shmem');
  const parts = present([
    ['anon', anonLru !== null && shmem !== null && anonLru.bytes >= shmem ? expr(m, ['active_anon', 'inactive_anon'], ['shmem']) : anonLru],
    ['page_cache', expr(m, ['active_file', 'inactive_file'])],
    ['shmem', expr(m, ['shmem'])],
    ['kernel', expr(m, ['slab_reclaimable', 'slab_unreclaimable', 'pagetables'])],
  ]);
  const ram = get('ram');
  const reserved = get('reserved') ?? 0;
  if (ram === null) missing.push("the Mem-Info block's `pages RAM` line was not in the input: shares are of the parts' sum");
  const total = ram === null ? parts.reduce((s, p) => s + p.bytes, 0) : ram - reserved;
  return {
    source: 'system',
    total_bytes: total,
    total_is: ram === null ? 'sum_of_parts' : 'ram',
    subtree: null,
    parts: partsByShare(parts, total),
    detail,
    free_bytes: get('free'),
    swap_total_bytes: get('total_swap'),
    swap_free_bytes: get('free_swap'),
  };
}

function candidatesOf(e: OomKillEvent, missing: string[]): Story['candidates'] {
  if (e.candidates === null || e.candidates.length === 0) {
    missing.push("the report's task table was not in the input: the other candidates and their points are unknown");
    return null;
  }
  const victimRow = e.candidates.find((c) => c.victim);
  const rssKb = e.anon_rss_kb === null ? null : e.anon_rss_kb + (e.file_rss_kb ?? 0) + (e.shmem_rss_kb ?? 0);
  const pageSize = pageSizeOfRss(victimRow?.rss_pages ?? null, rssKb);
  const kept = e.candidates.map((c) => storyCandidate(c, pageSize));
  const rank = kept.findIndex((c) => c.victim);
  const victim = rank >= 0 ? (kept[rank] as StoryCandidate) : null;
  const next = rank >= 0 ? (kept.slice(rank + 1).find((c) => c.badness !== null) ?? null) : null;
  const ratio = victim !== null && next !== null && victim.badness !== null && next.badness !== null && victim.badness > 0 && next.badness > 0 ? victim.badness / next.badness : null;
  const weighed = kept.filter((c) => c.badness !== null);
  let first: StoryCandidate | null = null;
  let changed: boolean | null = null;
  if (weighed.length > 0 && weighed.every((c) => c.points_without_adj !== null)) {
    // On a tie the kernel keeps the later task of its table, which `kept` lists first.
    first = weighed.reduce((best, c) => ((c.points_without_adj as number) > (best.points_without_adj as number) ? c : best));
    changed = first.pid !== (weighed[0] as StoryCandidate).pid;
  }
  return {
    total: e.candidates_total,
    kept,
    victim_rank: rank >= 0 ? rank : null,
    next,
    ratio_to_next: ratio,
    adj_changed_order: changed,
    first_without_adj: first,
    exempt: kept.filter((c) => c.oom_score_adj === -1000).map((c) => c.pid),
  };
}

function storyCandidate(c: OomCandidate, pageSize: number): StoryCandidate {
  const points = c.rss_pages === null ? null : c.rss_pages + (c.swapents ?? 0) + Math.floor((c.pgtables_bytes ?? 0) / pageSize);
  return {
    pid: c.pid,
    process: c.process,
    badness: c.badness,
    points_without_adj: points,
    oom_score_adj: c.oom_score_adj,
    rss_bytes: c.rss_pages === null ? null : c.rss_pages * pageSize,
    victim: c.victim,
  };
}

function cgroupVersion(e: OomKillEvent): 1 | 2 | null {
  const stat = e.memory_stat ?? {};
  if (e.memory?.swap != null || 'anon' in stat) return 2;
  if (e.memory?.memsw != null || e.memory?.kmem != null || 'rss' in stat || 'total_rss' in stat) return 1;
  return null;
}

/** The kill line's flags another reader may add: read when present. */
/**
 * The story of one kill. `siblings`: the other kills of the same report (a group kill's members;
 * groupSiblings() finds them in a list of events). `names`: the daemon's names for the kill.
 */
export function killStory(e: OomKillEvent, opts: { siblings?: readonly OomKillEvent[]; names?: StoryNames | null; detectedAt?: string | null } = {}): Story {
  const names = opts.names ?? NO_NAMES;
  const missing: string[] = [];
  if (e.partial) missing.push('the kill line could not be read whole: fields shown as unknown were not readable');
  if (e.possibly_child) missing.push("the report is the old `Kill process … or sacrifice child` form: the process killed may be a child of the one the kernel selected");
  if (e.kill_time === null) missing.push('the kill has no wall-clock time in the input (give --boot-time for kernel timestamps)');
  const fired = names.limit ?? limitFired(e);
  const memory = counter(e.memory);
  const memsw = counter(e.memory?.memsw);
  if (e.scope !== 'system' && e.memory === null) missing.push("the report's `memory: usage …, limit …` line was not in the input: the usage and limit at the OOM are unknown");
  if (e.scope === 'cgroup' && e.oom_cgroup === null) missing.push('the report did not name the cgroup whose limit was hit (its `oom-kill:` summary line was not in the input)');
  if (e.scope === null) missing.push('the input does not say whether a cgroup limit or the whole system ran out (the report header was not in it)');
  if (e.victim_cgroup === null) missing.push("the kill's own cgroup was not named in the input");
  const rssTotal = e.anon_rss_kb === null ? null : e.anon_rss_kb + (e.file_rss_kb ?? 0) + (e.shmem_rss_kb ?? 0);
  const story: Story = {
    pid: e.pid,
    process: e.process,
    partial: e.partial,
    possibly_child: e.possibly_child,
    uid: e.uid,
    kill_time: e.kill_time,
    kernel_time_us: e.kernel_time_us,
    seq: e.seq,
    detected_at: opts.detectedAt ?? null,
    rss: {
      anon_bytes: kb(e.anon_rss_kb),
      file_bytes: kb(e.file_rss_kb),
      shmem_bytes: kb(e.shmem_rss_kb),
      total_bytes: kb(rssTotal),
      page_tables_bytes: kb(e.pgtables_kb),
      total_vm_bytes: kb(e.total_vm_kb),
    },
    // Kernels before 4.19 print no oom_score_adj on the kill line; the victim's table row has it.
    oom_score_adj: e.oom_score_adj ?? e.candidates?.find((c) => c.victim)?.oom_score_adj ?? null,
    trigger_process: e.trigger_process,
    main_process: names.main_process,
    victim_cgroup: e.victim_cgroup,
    owner: {
      unit: e.unit,
      runtime: e.runtime,
      container_id: e.container_id,
      container: names.container,
      container_name: names.container_name,
      image: names.image,
      pod_uid: e.pod_uid,
      pod_qos: e.pod_qos,
      namespace: names.namespace,
      pod: names.pod,
    },
    limit: {
      scope: e.scope,
      fired,
      oom_cgroup: e.oom_cgroup,
      constraint: e.constraint,
      memory,
      memsw,
      swap: counter(e.memory?.swap),
      kmem: counter(e.memory?.kmem),
      memsw_at_limit: memsw !== null && memsw.limit_bytes !== 'max' && memsw.usage_bytes >= memsw.limit_bytes,
      cgroup_version: cgroupVersion(e),
    },
    composition: compositionOf(e, missing),
    candidates: candidatesOf(e, missing),
    group: {
      group_kill: e.group_kill,
      report_seen: e.group_kill || e.scope !== null || e.memory !== null || e.candidates !== null || e.memory_stat !== null || e.mem_info !== null,
      killed_with_it: (opts.siblings ?? []).filter((s) => s.pid !== e.pid).map((s) => ({ pid: s.pid, process: s.process, victim_cgroup: s.victim_cgroup })),
    },
    advice: [],
    missing,
  };
  story.advice = adviceFor(story);
  return story;
}

const size = (n: number | 'max'): string => (n === 'max' ? 'max' : formatBytes(n));

function adviceFor(s: Story): Story['advice'] {
  const out: Story['advice'] = [];
  // The limit as it was, for the advice to raise it.
  const now = s.limit.memory === null ? null : size(s.limit.memory.limit_bytes);
  const was = now === null ? '' : `, now ${now}`;
  const oom = s.limit.oom_cgroup;
  const v = s.limit.cgroup_version;
  const knob = v === 2 ? 'memory.max' : v === 1 ? 'memory.limit_in_bytes' : 'v2 memory.max, v1 memory.limit_in_bytes';
  switch (s.limit.fired) {
    case 'container':
      out.push({ kind: 'raise_limit', text: `raise the container's memory limit (Kubernetes resources.limits.memory, docker run --memory${was}), or make it need less` });
      break;
    case 'pod':
      out.push({ kind: 'raise_limit', text: `raise the memory limits of the pod's containers: the pod's limit is their sum plus any pod overhead${was}` });
      break;
    case 'node':
      out.push({
        kind: 'node_allocatable',
        text: `the node's memory for pods (${oom ?? 'kubepods'}${now === null ? '' : `, ${now}`}) was full: set memory requests and limits on the pods that grow, spread them out, or give the node more memory`,
      });
      break;
    case 'own':
      out.push({
        kind: 'raise_limit',
        text:
          s.owner.unit !== null && oom !== null && oom.endsWith(`/${s.owner.unit}`)
            ? `raise ${s.owner.unit}'s MemoryMax= (systemctl set-property ${s.owner.unit} MemoryMax=SIZE${was}), or make it need less`
            : `raise the limit of ${oom ?? 'its cgroup'} (${knob}; oomwatch cgroup set NAME --memory SIZE${was}), or make it need less`,
      });
      break;
    case 'ancestor':
      out.push({
        kind: 'raise_limit',
        text: `the limit of ${oom ?? 'an ancestor cgroup'}${now === null ? '' : ` (${now})`} is shared by everything below it: raise it, or limit its children so that the one that grows is the one that dies`,
      });
      break;
    case 'none':
      out.push({ kind: 'system', text: 'no cgroup limit fired: the whole machine ran out of memory and swap; add memory or swap, or put limits on the big consumers so that the one that grows is the one that dies' });
      break;
    case null:
      break;
    default:
      s.limit.fired satisfies never;
  }
  if (s.limit.memsw_at_limit) out.push({ kind: 'swap', text: 'the memory+swap limit (v1 memory.memsw.limit_in_bytes) was reached: raising memory.limit_in_bytes alone does not help' });
  const top = s.composition?.parts[0];
  if (top !== undefined) {
    const d = s.composition?.detail ?? {};
    switch (top.kind) {
      case 'anon':
      {
        // The largest task of the table is where most of the anonymous memory was, when it was kept.
        const big = s.candidates?.kept[0];
        const whose = big === undefined ? JSON.stringify(s.process) : `pid ${big.pid} ${JSON.stringify(big.process)}${big.victim ? '' : ' (the largest task)'}`;
        out.push({ kind: 'anon', text: `most of it was anonymous memory (heap, stacks, anonymous mmap): a leak or a working set larger than the limit; a heap profile of ${whose} tells which` });
      }
        break;
      case 'page_cache': {
        const dirty = (d.file_dirty ?? d.dirty ?? 0) + (d.file_writeback ?? d.writeback ?? 0);
        out.push({
          kind: 'page_cache',
          text:
            'most of it was page cache the kernel could not reclaim in time' +
            (dirty > 0 ? ` (${size(dirty)} dirty or under writeback: writes faster than the disk takes them)` : '') +
            '; look for large writes, mapped files in use, or a limit too small for the files it reads',
        });
        break;
      }
      case 'shmem':
        out.push({ kind: 'shmem', text: 'most of it was shared memory: files in a tmpfs (/dev/shm, an emptyDir with medium Memory) or shm segments count against the limit until they are deleted' });
        break;
      case 'kernel': {
        const slab = d.slab ?? (d.slab_reclaimable ?? 0) + (d.slab_unreclaimable ?? 0);
        out.push({ kind: 'kernel', text: `most of it was kernel memory${slab > 0 ? ` (slab ${size(slab)})` : ''}: dentries and inodes of many files, many sockets or threads; count what the process opens` });
        break;
      }
      case 'sock':
        out.push({ kind: 'sock', text: 'most of it was socket buffers: many connections or a reader that does not keep up' });
        break;
      case 'not_broken_down':
        break;
      default:
        top.kind satisfies never;
    }
  }
  const c = s.candidates;
  if (s.oom_score_adj !== null && s.oom_score_adj > 0) {
    out.push({
      kind: 'oom_score_adj',
      text:
        `its oom_score_adj was ${s.oom_score_adj}, which made it an earlier choice` +
        (s.owner.pod_qos === 'besteffort' ? ' (kubelet gives BestEffort pods 1000: set requests and limits to be Burstable or Guaranteed)' : s.owner.pod_qos === 'burstable' ? ' (kubelet sets it for Burstable pods from the memory request: a larger request lowers it)' : ''),
    });
  } else if (s.owner.pod_qos === 'besteffort') {
    out.push({ kind: 'qos', text: 'the pod is BestEffort (no memory requests or limits): kubelet gives it the highest oom_score_adj and evicts it first; give it memory requests (Burstable) or equal requests and limits (Guaranteed)' });
  } else if (c?.adj_changed_order === true) {
    out.push({ kind: 'oom_score_adj', text: 'oom_score_adj changed whom the kernel chose: check the oom_score_adj of the processes in the table (OOMScoreAdjust= in systemd, the QoS class in Kubernetes)' });
  }
  if (s.group.group_kill) {
    out.push({ kind: 'oom_group', text: `memory.oom.group was set on ${oom ?? 'the OOM cgroup'}: the kernel killed every process in it; unset it if the others could go on without ${JSON.stringify(s.process)}` });
  } else if (v === 2 && c !== null && (c.total ?? 0) > 1 && oom !== null) {
    out.push({ kind: 'oom_group', text: `${c.total ?? 0} tasks were in the OOM cgroup and only ${JSON.stringify(s.process)} was killed: if they are useless without each other, set memory.oom.group=1 on ${oom} (oomwatch cgroup set NAME --oom-group) so they die together` });
  }
  if (s.main_process === false) out.push({ kind: 'main_process', text: `${JSON.stringify(s.process)} was not its container's init process: the container kept running without it, which a liveness check may not notice` });
  return out;
}
