/**
 * "Who dies next" (pure): which OOM would happen, and the order in which its OOM killer would
 * choose among the live processes it weighs, by the kernel's own oom_badness() (./badness.ts).
 *
 * Which OOM: a charge to a cgroup is made at every level from the cgroup up to the root
 * (mm/page_counter.c page_counter_try_charge), and fails at the first level whose limit it would
 * pass; the OOM then happens in THAT cgroup (mem_cgroup_out_of_memory on mem_over_limit): it
 * weighs every task of its subtree against its own limit (mem_cgroup_get_max). So for a cgroup
 * that keeps growing, the limit that fires is the one with the least room left (limit − usage)
 * among the cgroup's own and its ancestors'; on equal room the lowest level, which is charged
 * first. A limit the host cannot reach (at or above RAM + swap) never fires: the host runs out
 * first, and that is a system OOM, which weighs every process on the host against RAM + swap.
 */

import type { Candidate } from '../proc/candidates.js';
import { killOrder, oomBadness, type BadnessInput } from './badness.js';

/** One level of a cgroup's limit chain, as its memory controller reads now. */
export interface LimitLevel {
  /** Kernel form: `/a/b`. */
  readonly cgroup: string;
  /** The hard limit in bytes (v1 memory.limit_in_bytes, v2 memory.max); null when none. */
  readonly limitBytes: number | null;
  /** memory.usage_in_bytes (v1), memory.current (v2). */
  readonly usageBytes: number;
  /** The swap it may use on top (v1 memsw limit − limit, v2 memory.swap.max); null when unlimited. */
  readonly swapLimitBytes: number | null;
}

/** What the host gives the OOM killer: its memory and the unit it counts in. */
export interface HostMemory {
  readonly memTotalKb: number;
  readonly swapTotalKb: number;
  readonly pageSize: number;
}

/** The OOM that would happen, and the memory it weighs processes against. */
export interface OomDomain {
  /** `cgroup`: a memcg OOM (CONSTRAINT_MEMCG); `system`: the host is out (CONSTRAINT_NONE). */
  readonly scope: 'cgroup' | 'system';
  /** The cgroup whose limit fires; null for a system OOM. */
  readonly oomCgroup: string | null;
  /** The limit that fires, in bytes (null: system); its usage now. */
  readonly limitBytes: number | null;
  readonly usageBytes: number | null;
  /** The kernel's totalpages: mem_cgroup_get_max() of the cgroup, or RAM + swap pages. */
  readonly totalPages: number;
  /** Why this one, in words for the output header. */
  readonly why: string;
}

const kbToPages = (kb: number, pageSize: number): number => Math.floor((kb * 1024) / pageSize);

/** RAM + swap in pages, as constrained_alloc() sets totalpages for a system OOM. */
export function systemTotalPages(host: HostMemory): number {
  return kbToPages(host.memTotalKb, host.pageSize) + kbToPages(host.swapTotalKb, host.pageSize);
}

/**
 * mem_cgroup_get_max(): the limit in pages plus the swap the cgroup may use, at most the host's.
 * (The kernel adds no swap for a cgroup with swappiness 0, which is not read here.)
 */
export function cgroupTotalPages(level: LimitLevel & { limitBytes: number }, host: HostMemory): number {
  const swapPages = kbToPages(host.swapTotalKb, host.pageSize);
  const allowed = level.swapLimitBytes === null ? swapPages : Math.floor(Math.max(0, level.swapLimitBytes) / host.pageSize);
  return Math.floor(level.limitBytes / host.pageSize) + Math.min(allowed, swapPages);
}

/**
 * The OOM that fires when `levels[0]` (a cgroup) keeps growing. `levels`: the cgroup, then each
 * ancestor up to (not including) the root, which has no limit. Empty: the root or the host.
 */
export function oomDomainOf(levels: readonly LimitLevel[], host: HostMemory): OomDomain {
  const hostBytes = (host.memTotalKb + host.swapTotalKb) * 1024;
  const system = (why: string): OomDomain => ({ scope: 'system', oomCgroup: null, limitBytes: null, usageBytes: null, totalPages: systemTotalPages(host), why });
  const name = levels[0]?.cgroup;
  if (name === undefined) return system('the host as a whole: a system OOM weighs every process on it');
  const limited = levels.filter((l): l is LimitLevel & { limitBytes: number } => l.limitBytes !== null);
  const reachable = limited.filter((l) => l.limitBytes < hostBytes);
  if (reachable.length === 0) {
    const above = limited.length === 0 ? `no limit on ${name} or above it` : `the limits on ${name} and above it (${limited.map((l) => l.cgroup).join(', ')}) are above RAM + swap`;
    return system(`${above}: the host runs out first, a system OOM that weighs every process on the host against RAM + swap`);
  }
  // The least room left; on a tie the lowest level, which the kernel charges (and fails) first.
  let fires = reachable[0] as LimitLevel & { limitBytes: number };
  for (const l of reachable) if (l.limitBytes - l.usageBytes < fires.limitBytes - fires.usageBytes) fires = l;
  let why: string;
  if (reachable.length === 1) {
    why = fires.cgroup === name ? `the only limit on ${name} or above it` : `the only limit above ${name}, which has none of its own that the host can reach`;
  } else {
    why = `the least room left (limit − usage) of the limits on ${reachable.map((l) => l.cgroup).join(', ')}`;
  }
  if (fires.cgroup !== name) why += `: an OOM there weighs every process of ${fires.cgroup} and below, not only ${name}'s`;
  return { scope: 'cgroup', oomCgroup: fires.cgroup, limitBytes: fires.limitBytes, usageBytes: fires.usageBytes, totalPages: cgroupTotalPages(fires, host), why };
}

/** A process with its place in the kernel's order. */
export interface RankedCandidate extends Candidate {
  /** 1 = killed first; null = never chosen. */
  readonly rank: number | null;
  /** oom_badness() in pages; null for a process the OOM killer never chooses. */
  readonly badness_pages: number | null;
  /** The badness in thousandths of the memory at stake (oom_score_adj's unit), one decimal. */
  readonly points_permille: number | null;
  /** The rank it would have if every oom_score_adj were 0 (null: never chosen). */
  readonly rank_by_size: number | null;
  /** Another process has exactly the same badness: the kernel's scan order decides. */
  readonly tie: boolean;
}

/** What oom_badness() reads of a live process: /proc's kB (whole pages) back in pages. */
export function badnessInputOf(c: Candidate, pageSize: number): BadnessInput {
  return {
    pid: c.pid,
    rssPages: kbToPages(c.rss_kb, pageSize),
    swapPages: kbToPages(c.swap_kb, pageSize),
    pgtablesPages: kbToPages(c.pgtables_kb, pageSize),
    oomScoreAdj: c.oom_score_adj,
  };
}

/**
 * The order the kernel scans a domain in, as far as /proc shows it. A system OOM walks the task
 * list (for_each_process), in order of creation: by pid, short of pid wrap-around. A cgroup OOM
 * walks the subtree top down (mem_cgroup_scan_tasks: the cgroup, then each descendant before its
 * own children), each cgroup's processes in the order they joined it: taken as by path, then by
 * pid (siblings are walked in order of creation, which cgroupfs does not show).
 */
export function scanOrder(scope: OomDomain['scope']): (a: Candidate, b: Candidate) => number {
  if (scope === 'system') return (a, b) => a.pid - b.pid;
  return (a, b) => {
    const pa = (a.cgroup ?? '').split('/');
    const pb = (b.cgroup ?? '').split('/');
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
      const x = pa[i] as string;
      const y = pb[i] as string;
      if (x !== y) return x < y ? -1 : 1;
    }
    return pa.length - pb.length || a.pid - b.pid;
  };
}

/** Order candidates as the OOM killer of `domain` would choose them; never-chosen ones last. */
export function rankCandidates(candidates: readonly Candidate[], domain: Pick<OomDomain, 'scope' | 'totalPages'>, pageSize: number): RankedCandidate[] {
  const scanned = [...candidates].sort(scanOrder(domain.scope));
  const input = new Map(scanned.map((c) => [c, badnessInputOf(c, pageSize)]));
  const bySize = new Map<Candidate, number>();
  let n = 0;
  for (const { item, badness } of killOrder(scanned, (c) => oomBadness({ ...(input.get(c) as BadnessInput), oomScoreAdj: c.oom_score_adj === -1000 ? -1000 : 0 }, domain.totalPages))) {
    if (badness !== null) bySize.set(item, ++n);
  }
  const ranked = killOrder(scanned, (c) => oomBadness(input.get(c) as BadnessInput, domain.totalPages));
  const seen = new Map<number, number>();
  for (const { badness } of ranked) if (badness !== null) seen.set(badness, (seen.get(badness) ?? 0) + 1);
  let rank = 0;
  return ranked.map(({ item: c, badness }) => ({
    ...c,
    rank: badness === null ? null : ++rank,
    badness_pages: badness,
    points_permille: badness === null ? null : Math.round((badness * 10_000) / domain.totalPages) / 10,
    rank_by_size: bySize.get(c) ?? null,
    tie: badness !== null && (seen.get(badness) ?? 0) > 1,
  }));
}
