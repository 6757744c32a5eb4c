/**
 * The task table of an OOM report (pure): every task the OOM killer weighed, as mm/oom_kill.c
 * dump_tasks()/dump_task() prints it under `Tasks state (memory values in pages):`. The columns
 * changed across kernels, so the header row names them and the rows are read by that header:
 *
 *   3.10      `[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name`
 *   4.4–4.14  `[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name`
 *   4.15–6.1  `[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name`
 *   6.2+      `[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name`
 *
 * A row is `[%7d] %5d %5d %8lu ... %5hd %s`: the pid in brackets, one number per named column,
 * then one space and the comm (which may hold spaces and digits). Memory values are in pages,
 * `pgtables_bytes` in bytes, `nr_ptes`/`nr_pmds` in page-table pages.
 */

/** `Tasks state (memory values in pages):` (4.15+; older kernels print the column row directly). */
export const TASKS_STATE = 'Tasks state (memory values in pages):';

/** The header row's column names, pid and name excluded, in order. */
export type TaskColumns = readonly string[];

/** One row, typed by the columns the kernel printed; null for a column this kernel does not print. */
export interface TaskRow {
  readonly pid: number;
  readonly uid: number | null;
  readonly tgid: number | null;
  readonly totalVm: number | null;
  readonly rss: number | null;
  readonly rssAnon: number | null;
  readonly rssFile: number | null;
  readonly rssShmem: number | null;
  readonly pgtablesBytes: number | null;
  readonly nrPtes: number | null;
  readonly nrPmds: number | null;
  readonly swapents: number | null;
  readonly oomScoreAdj: number | null;
  readonly name: string;
}

const HEADER = /^\[\s*pid\s*\]((?:\s+[a-z_]+)+)\s+name$/;

/** The header row (`[  pid  ]   uid  tgid ... name`): its numeric columns, or undefined. */
export function parseTaskColumns(msg: string): TaskColumns | undefined {
  const m = HEADER.exec(msg);
  if (m === null) return undefined;
  return (m[1] as string).trim().split(/\s+/);
}

/** Read a signed decimal at `from` after any spaces; [value, end] or undefined. */
function intAt(s: string, from: number): [number, number] | undefined {
  let i = from;
  while (s.charCodeAt(i) === 32) i++;
  const neg = s.charCodeAt(i) === 45; /* - */
  if (neg) i++;
  const start = i;
  let n = 0;
  for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) n = n * 10 + (c - 48);
  if (i === start || i - start > 19 || !Number.isSafeInteger(n)) return undefined;
  return [neg ? -n : n, i];
}

/** The row's fields a column fills, by the column's name (TaskRow's number fields, in order). */
const COLUMN_SLOTS: ReadonlyMap<string, number> = new Map([
  ['uid', 0], ['tgid', 1], ['total_vm', 2], ['rss', 3], ['rss_anon', 4], ['rss_file', 5], ['rss_shmem', 6],
  ['pgtables_bytes', 7], ['nr_ptes', 8], ['nr_pmds', 9], ['swapents', 10], ['oom_score_adj', 11],
]);

/**
 * One task row read by `columns`, or undefined when the message is not such a row (the table has
 * ended). Unknown columns are read and skipped: a newer kernel's extra column does not break us.
 */
export function parseTaskRow(msg: string, columns: TaskColumns): TaskRow | undefined {
  if (msg.charCodeAt(0) !== 91 /* [ */) return undefined;
  const p = intAt(msg, 1);
  if (p === undefined || p[0] < 0 || msg.charCodeAt(p[1]) !== 93 /* ] */) return undefined;
  let at = p[1] + 1;
  const v: Array<number | null> = [null, null, null, null, null, null, null, null, null, null, null, null];
  for (let i = 0; i < columns.length; i++) {
    if (msg.charCodeAt(at) !== 32) return undefined;
    const n = intAt(msg, at);
    if (n === undefined) return undefined;
    const slot = COLUMN_SLOTS.get(columns[i] as string);
    if (slot !== undefined) v[slot] = n[0];
    at = n[1];
  }
  // Exactly one space, then the comm (it may itself begin with a space).
  if (msg.charCodeAt(at) !== 32 || at + 1 >= msg.length) return undefined;
  return {
    pid: p[0],
    uid: v[0] as number | null,
    tgid: v[1] as number | null,
    totalVm: v[2] as number | null,
    rss: v[3] as number | null,
    rssAnon: v[4] as number | null,
    rssFile: v[5] as number | null,
    rssShmem: v[6] as number | null,
    pgtablesBytes: v[7] as number | null,
    nrPtes: v[8] as number | null,
    nrPmds: v[9] as number | null,
    swapents: v[10] as number | null,
    oomScoreAdj: v[11] as number | null,
    name: msg.slice(at + 1),
  };
}
