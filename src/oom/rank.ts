/**
 * "Who dies next": the order in which the OOM killer would choose among processes (pure).
 * mm/oom_kill.c oom_badness(): points = rss + swap entries + page tables (in pages), plus
 * oom_score_adj × totalpages / 1000, where totalpages is the memory the OOM is about (the memcg's
 * limit for a cgroup OOM, RAM + swap for the system); oom_score_adj -1000, global init and kernel
 * threads are never chosen. select_bad_process() takes the highest; we sort by the same points,
 * computed in kB, then by the kernel's own /proc/<pid>/oom_score.
 */

import type { Candidate } from '../proc/candidates.js';

export interface RankedCandidate extends Candidate {
  /** 1 = the next victim; null = never chosen. */
  readonly rank: number | null;
  /** oom_badness() in kB; null for processes the OOM killer never chooses. */
  readonly badness_kb: number | null;
}

/** oom_badness() in kB for `totalKb` of memory at stake; null when the task is never chosen. */
export function badnessKb(c: Candidate, totalKb: number): number | null {
  if (c.oom_score_adj === -1000 || c.pid === 1) return null;
  return c.rss_kb + c.swap_kb + c.pgtables_kb + c.oom_score_adj * Math.floor(totalKb / 1000);
}

/** Order candidates as the OOM killer would choose them; never-chosen ones last, by pid. */
export function rankCandidates(candidates: readonly Candidate[], totalKb: number): RankedCandidate[] {
  const scored = candidates.map((c) => ({ c, b: badnessKb(c, totalKb) }));
  scored.sort((x, y) => {
    if (x.b === null || y.b === null) return x.b === y.b ? x.c.pid - y.c.pid : x.b === null ? 1 : -1;
    return y.b - x.b || y.c.oom_score - x.c.oom_score || x.c.pid - y.c.pid;
  });
  let rank = 0;
  return scored.map(({ c, b }) => ({ ...c, rank: b === null ? null : ++rank, badness_kb: b }));
}
