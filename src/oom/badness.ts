/**
 * The OOM killer's choice, recomputed from the report's task table (pure): mm/oom_kill.c
 * oom_badness() for each task, then the order select_bad_process() would pick them in.
 *
 *   points = rss + swapents + page-table pages          (4.15+: mm_pgtables_bytes / PAGE_SIZE;
 *                                                        earlier: nr_ptes [+ nr_pmds])
 *   points += oom_score_adj * (totalpages / 1000)       (integer division first, as the kernel)
 *
 * totalpages is the OOM's domain: a memcg's limit in pages (mem_cgroup_get_max) or, for a system
 * OOM, RAM + swap pages. A task with oom_score_adj -1000 is never chosen. Kernels before 5.9 gave
 * eligible tasks at least 1 point (it changes no order among tasks above 1); kernels before 4.19
 * took 3% off a CAP_SYS_ADMIN task, which the table does not show. On a tie the kernel keeps the
 * later task (oom_evaluate_task skips only a strictly lower score): later rows rank first.
 */
import type { TaskRow } from './taskTable.js';

/** oom_score_adj that exempts a task (include/uapi/linux/oom.h OOM_SCORE_ADJ_MIN). */
export const OOM_SCORE_ADJ_MIN = -1000;

/** One task of the table as a kill event carries it (`candidates`). */
export interface OomCandidate {
  pid: number;
  tgid: number | null;
  uid: number | null;
  /** The comm, as the table prints it. */
  process: string;
  total_vm_pages: number | null;
  rss_pages: number | null;
  /** The rss split, printed by 6.2+ kernels; null before. */
  rss_anon_pages: number | null;
  rss_file_pages: number | null;
  rss_shmem_pages: number | null;
  /** Page tables in bytes (kernels printing nr_ptes/nr_pmds: those pages × the page size). */
  pgtables_bytes: number | null;
  swapents: number | null;
  oom_score_adj: number | null;
  /** oom_badness() in pages; null when the kernel would not weigh the task (-1000) or the domain is unknown. */
  badness: number | null;
  /** The task this kill event killed. */
  victim: boolean;
}

/** Page-table pages as oom_badness() counts them; null when the row has no such column. */
function pgtablePages(t: TaskRow, pageSize: number): number | null {
  if (t.pgtablesBytes !== null) return Math.floor(t.pgtablesBytes / pageSize);
  if (t.nrPtes !== null) return t.nrPtes + (t.nrPmds ?? 0);
  return null;
}

/**
 * oom_badness() of one row. `totalPages` is the domain's size in pages; null when the report did
 * not tell, which only matters for a task whose oom_score_adj is not 0.
 */
export function oomBadness(t: TaskRow, totalPages: number | null, pageSize: number): number | null {
  const adj = t.oomScoreAdj ?? 0;
  if (adj === OOM_SCORE_ADJ_MIN || t.rss === null) return null;
  const points = t.rss + (t.swapents ?? 0) + (pgtablePages(t, pageSize) ?? 0);
  if (adj === 0) return points;
  if (totalPages === null) return null;
  return points + adj * Math.floor(totalPages / 1000);
}

/** The rows in the kernel's order of preference, each with its badness. */
export interface RankedTasks {
  readonly rows: ReadonlyArray<{ readonly row: TaskRow; readonly badness: number | null }>;
  readonly pageSize: number;
}

export function rankTasks(rows: readonly TaskRow[], totalPages: number | null, pageSize: number): RankedTasks {
  const scored = rows.map((row, i) => ({ row, badness: oomBadness(row, totalPages, pageSize), i }));
  scored.sort((a, b) => {
    if (a.badness === null || b.badness === null) {
      if (a.badness === b.badness) return b.i - a.i;
      return a.badness === null ? 1 : -1;
    }
    return b.badness - a.badness || b.i - a.i;
  });
  return { rows: scored, pageSize };
}

/** The first `keep` ranked tasks as event candidates, `victimPid` marked. */
export function candidatesOf(ranked: RankedTasks, victimPid: number, keep: number): OomCandidate[] {
  const out: OomCandidate[] = [];
  for (const { row: t, badness } of ranked.rows.slice(0, keep)) {
    out.push({
      pid: t.pid,
      tgid: t.tgid,
      uid: t.uid,
      process: t.name,
      total_vm_pages: t.totalVm,
      rss_pages: t.rss,
      rss_anon_pages: t.rssAnon,
      rss_file_pages: t.rssFile,
      rss_shmem_pages: t.rssShmem,
      pgtables_bytes: t.pgtablesBytes ?? (t.nrPtes === null ? null : (t.nrPtes + (t.nrPmds ?? 0)) * ranked.pageSize),
      swapents: t.swapents,
      oom_score_adj: t.oomScoreAdj,
      badness,
      victim: t.pid === victimPid,
    });
  }
  return out;
}

const PAGE_SIZES = [4096, 16384, 65536];

/**
 * The kernel's page size, read from the victim: its kill line prints its rss in kB, its table row
 * in pages. 4 KiB (x86) when the report does not tell.
 */
export function pageSizeOf(row: TaskRow | undefined, rssKb: number | null): number {
  return pageSizeOfRss(row?.rss ?? null, rssKb);
}

/** The same from the victim's rss in pages (its table row or its candidate) and in kB (its kill line). */
export function pageSizeOfRss(rssPages: number | null, rssKb: number | null): number {
  if (rssPages === null || rssPages <= 0 || rssKb === null || rssKb <= 0) return 4096;
  const ratio = (rssKb * 1024) / rssPages;
  let best = 4096;
  for (const p of PAGE_SIZES) if (Math.abs(Math.log(ratio / p)) < Math.abs(Math.log(ratio / best))) best = p;
  return best;
}
