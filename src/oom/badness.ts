/**
 * The OOM killer's choice (pure), one implementation for both places oomwatch needs it: the kill
 * report's task table (the candidates of a kill event) and `oomwatch rank` (the live processes).
 *
 * mm/oom_kill.c oom_badness(), as current kernels (5.9 and later, through 6.x) compute it, in pages:
 *
 *   points  = rss + swap entries + page-table pages      (4.15+: mm_pgtables_bytes / PAGE_SIZE;
 *                                                          earlier: nr_ptes [+ nr_pmds])
 *   points += oom_score_adj * (totalpages / 1000)        (unsigned integer division first)
 *
 * totalpages is the OOM's domain: for a memcg OOM mem_cgroup_get_max() of the cgroup whose limit
 * was hit (its limit, plus the swap it may use, at most the host's swap), for a system OOM RAM +
 * swap (totalram_pages() + total_swap_pages). Never chosen (LONG_MIN; null here): oom_score_adj
 * -1000, global init, kernel threads, a task with no mm left (exiting), an mm marked MMF_OOM_SKIP
 * (already reaped), a vfork child that has not exec-ed. The report's table never lists init or
 * kernel threads; /proc shows neither MMF_OOM_SKIP nor a vfork child, so those two are not known
 * live. Kernels before 5.9 gave eligible tasks at least 1 point (it changes no order among tasks
 * above 1); kernels before 4.19 took 3% off a CAP_SYS_ADMIN task, which neither source shows.
 *
 * select_bad_process() scans the domain (oom_evaluate_task) and replaces its choice unless a task
 * has strictly fewer points: among equal points the LAST task scanned is killed. (Older kernels,
 * from 3.14 while they scanned threads, kept a thread-group leader already chosen: the first found.)
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

/** Global init (is_global_init): never chosen. */
export const GLOBAL_INIT_PID = 1;

/** What oom_badness() reads of one task, in pages. */
export interface BadnessInput {
  readonly pid: number;
  readonly rssPages: number;
  readonly swapPages: number;
  readonly pgtablesPages: number;
  readonly oomScoreAdj: number;
}

/**
 * oom_badness() in pages; null when the kernel never chooses the task (LONG_MIN), or when
 * `totalPages` (the domain) is unknown and oom_score_adj makes it matter.
 */
export function oomBadness(t: BadnessInput, totalPages: number | null): number | null {
  if (t.pid === GLOBAL_INIT_PID || t.oomScoreAdj === OOM_SCORE_ADJ_MIN) return null;
  const points = t.rssPages + t.swapPages + t.pgtablesPages;
  if (t.oomScoreAdj === 0) return points;
  if (totalPages === null) return null;
  return points + t.oomScoreAdj * Math.floor(totalPages / 1000);
}

/**
 * `items`, given in the order the kernel scans them, in the order select_bad_process() would
 * choose them: the most points first; among equal points the one scanned later first (it
 * replaces the earlier); never-chosen ones (null) last, in scan order.
 */
export function killOrder<T>(items: readonly T[], badnessOf: (t: T) => number | null): Array<{ readonly item: T; readonly badness: number | null }> {
  const scored = items.map((item, i) => ({ item, badness: badnessOf(item), i }));
  scored.sort((a, b) => {
    if (a.badness === null || b.badness === null) {
      if (a.badness === b.badness) return a.i - b.i;
      return a.badness === null ? 1 : -1;
    }
    return b.badness - a.badness || b.i - a.i;
  });
  return scored.map(({ item, badness }) => ({ item, badness }));
}

/** Page-table pages as oom_badness() counts them; null when the row has no such column. */
function pgtablePages(t: TaskRow, pageSize: number): number | null {
  if (t.pgtablesBytes !== null) return Math.floor(t.pgtablesBytes / pageSize);
  if (t.nrPtes !== null) return t.nrPtes + (t.nrPmds ?? 0);
  return null;
}

/**
 * oom_badness() of one row of a report's task table. `totalPages` is the domain's size in pages;
 * null when the report did not tell, which only matters for a task whose oom_score_adj is not 0.
 */
export function rowBadness(t: TaskRow, totalPages: number | null, pageSize: number): number | null {
  if (t.rss === null) return null;
  return oomBadness(
    { pid: t.pid, rssPages: t.rss, swapPages: t.swapents ?? 0, pgtablesPages: pgtablePages(t, pageSize) ?? 0, oomScoreAdj: t.oomScoreAdj ?? 0 },
    totalPages,
  );
}

/** The rows in the kernel's order of preference, each with its badness. */
export interface RankedTasks {
  readonly rows: ReadonlyArray<{ readonly row: TaskRow; readonly badness: number | null }>;
  readonly pageSize: number;
}

/** The table's rows, printed in the kernel's scan order (dump_tasks walks as select_bad_process does), ranked. */
export function rankTasks(rows: readonly TaskRow[], totalPages: number | null, pageSize: number): RankedTasks {
  const ranked = killOrder(rows, (row) => rowBadness(row, totalPages, pageSize));
  return { rows: ranked.map(({ item, badness }) => ({ row: item, badness })), pageSize };
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
