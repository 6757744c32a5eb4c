/**
 * The single lines of the kernel's OOM report, each parsed on its own (pure). The shapes come from
 * mm/oom_kill.c (dump_header, dump_oom_summary, __oom_kill_process, oom_kill_process, out_of_memory)
 * and mm/memcontrol.c (mem_cgroup_print_oom_info < 4.19, mem_cgroup_print_oom_group), across kernel
 * versions. Every parser is anchored to the kernel's whole line: a message that merely contains the
 * words is not that line. Strings are messages with the kmsg `\xNN` escapes already decoded.
 */

/** What an OOM line says about the OOM's scope, from its `message` prefix (oom_kill_process callers). */
export type OomScope = 'cgroup' | 'system';

/** comm is at most TASK_COMM_LEN-1 = 15 bytes (include/linux/sched.h); decoding never adds characters. */
export const TASK_COMM_MAX = 15;

/** The `message` argument of oom_kill_process(): `%s: Killed process` (≥ 5.1) and `%s: Kill process` (≤ 5.0). */
const PREFIXES: ReadonlyArray<readonly [string, OomScope]> = [
  ['Memory cgroup out of memory: ', 'cgroup'],
  ['Out of memory: ', 'system'],
  ['Out of memory (oom_kill_allocating_task): ', 'system'],
];

function prefixOf(msg: string): readonly [string, OomScope] | undefined {
  // The first character decides cheaply which prefix can apply.
  const c = msg.charCodeAt(0);
  if (c === 77 /* M */) {
    const p = PREFIXES[0] as readonly [string, OomScope];
    return msg.startsWith(p[0]) ? p : undefined;
  }
  if (c === 79 /* O */) {
    for (let i = 1; i < PREFIXES.length; i++) {
      const p = PREFIXES[i] as readonly [string, OomScope];
      if (msg.startsWith(p[0])) return p;
    }
  }
  return undefined;
}

/** Read an unsigned decimal at `from`; returns the value and the end index, or undefined. */
function digitsAt(s: string, from: number): [number, number] | undefined {
  let i = from;
  let n = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    i++;
  }
  if (i === from || i - from > 10 || !Number.isSafeInteger(n)) return undefined;
  return [n, i];
}

/**
 * `[<prefix>: ]Killed process N (comm)[ total-vm:NkB, anon-rss:NkB, file-rss:NkB[, shmem-rss:NkB][, UID:N][ pgtables:NkB][ oom_score_adj:N]]`
 * (__oom_kill_process; no prefix before 5.1, shmem-rss since 4.6, UID/pgtables/oom_score_adj since 5.x;
 * RHEL/CentOS 7 print `(comm), UID N, total-vm:...`).
 */
export interface KillLine {
  readonly pid: number;
  /** null when the line is cut before its comm ends (a partial line). */
  readonly comm: string | null;
  /** From the line's prefix; null when the kernel printed none (< 5.1). */
  readonly scope: OomScope | null;
  readonly totalVmKb: number | null;
  readonly anonRssKb: number | null;
  readonly fileRssKb: number | null;
  readonly shmemRssKb: number | null;
  readonly uid: number | null;
  readonly pgtablesKb: number | null;
  readonly oomScoreAdj: number | null;
  /**
   * The line names the killed pid but is not the kernel's whole line (cut short, cut in two, or
   * text after it): what could be read is kept, the rest is null.
   */
  readonly partial: boolean;
}

const KILLED = 'Killed process ';
/**
 * A size in kB as the kernel prints it (plain digits), or as a paste or a viewer may have grouped
 * it: `65,536`, `65.536`, `65 536` (groups of exactly three digits after the first, one separator
 * kind). The kernel never prints a fraction here, so `65.536kB` is 65536, never 65.5.
 */
export const KB = String.raw`(\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+|\d{1,3}(?: \d{3})+|\d{1,19})kB`;
// The counters after the comm, anchored at the end of the line. Very old kernels said `vsz:`.
const RHEL_UID = /\), UID (\d{1,10}),$/;
const KILL_STATS = new RegExp(
  String.raw`^ (?:total-vm|vsz):${KB}, anon-rss:${KB}, file-rss:${KB}(?:, shmem-rss:${KB})?(?:, UID:(\d{1,10}))?(?: pgtables:${KB})?(?: oom_score_adj:(-?\d{1,4}))?$`,
);

/** A number KB captured (or plain digits), its thousands separators taken out. */
export function groupedNumber(s: string): number {
  return Number(s.length > 3 && !/^-?\d+$/.test(s) ? s.replace(/[,. ]/g, '') : s);
}

function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = groupedNumber(s);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * `[<prefix>: ]Killed process N` at the message's start: the prefix's scope (null without one) and
 * the pid with the index after its digits; undefined when the message does not start so.
 */
function killedPid(msg: string): { scope: OomScope | null; pid: [number, number] } | undefined {
  let at = 0;
  let scope: OomScope | null = null;
  if (!msg.startsWith(KILLED)) {
    const p = prefixOf(msg);
    if (p === undefined || !msg.startsWith(KILLED, p[0].length)) return undefined;
    at = p[0].length;
    scope = p[1];
  }
  const pid = digitsAt(msg, at + KILLED.length);
  return pid === undefined ? undefined : { scope, pid };
}

/** The end of a run of 1 to `max` ASCII digits at `from`, or -1 (none, or a longer run). */
export function digitRunEnd(msg: string, from: number, max: number): number {
  let i = from;
  for (let c = msg.charCodeAt(i); c >= 48 && c <= 57; c = msg.charCodeAt(++i));
  return i === from || i - from > max ? -1 : i;
}

/** A plain digit run's value as num() reads it (groupedNumber of plain digits is Number()). */
function plainNum(msg: string, from: number, to: number): number | null {
  const n = Number(msg.slice(from, to));
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The counters after a kill line's comm, by KILL_STATS's groups 1–7 (index 0 unused): a number, or
 * null for one too large; undefined for a counter the line does not print.
 */
type KillStats = ReadonlyArray<number | null | undefined>;

/**
 * KILL_STATS read in place when every counter has plain digits, as the kernel prints them: the
 * regex (most of what a kill line cost on a kill's way out) is left for the grouped forms of a
 * paste. Where this accepts, KILL_STATS matches with the same groups: a run of plain digits right
 * before `kB` can only be its `\d{1,19}`, and each optional part starts with its own literal. Null
 * when the tail is not in that form (KILL_STATS then decides).
 */
function plainKillStats(msg: string, tail: number): KillStats | null {
  const out: Array<number | null | undefined> = [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];
  let at: number;
  if (msg.startsWith(' total-vm:', tail)) at = tail + 10;
  else if (msg.startsWith(' vsz:', tail)) at = tail + 5;
  else return null;
  // A counter `NkB` at `at` into its group; false when it is not plain digits then `kB`.
  const kb = (group: number): boolean => {
    const end = digitRunEnd(msg, at, 19);
    if (end < 0 || !msg.startsWith('kB', end)) return false;
    out[group] = plainNum(msg, at, end);
    at = end + 2;
    return true;
  };
  if (!kb(1) || !msg.startsWith(', anon-rss:', at)) return null;
  at += 11;
  if (!kb(2) || !msg.startsWith(', file-rss:', at)) return null;
  at += 11;
  if (!kb(3)) return null;
  if (msg.startsWith(', shmem-rss:', at)) {
    at += 12;
    if (!kb(4)) return null;
  }
  if (msg.startsWith(', UID:', at)) {
    const end = digitRunEnd(msg, at + 6, 10);
    if (end < 0) return null;
    out[5] = plainNum(msg, at + 6, end);
    at = end;
  }
  if (msg.startsWith(' pgtables:', at)) {
    at += 10;
    if (!kb(6)) return null;
  }
  if (msg.startsWith(' oom_score_adj:', at)) {
    const from = at + 15;
    const end = digitRunEnd(msg, msg.charCodeAt(from) === 45 /* - */ ? from + 1 : from, 4);
    if (end < 0) return null;
    out[7] = plainNum(msg, from, end);
    at = end;
  }
  return at === msg.length ? out : null;
}

/** The counters after a kill line's comm from `tail` (` total-vm:` or ` vsz:`); undefined when they are not the kernel's. */
function killStatsAt(msg: string, tail: number): KillStats | undefined {
  const plain = plainKillStats(msg, tail);
  if (plain !== null) return plain;
  const m = KILL_STATS.exec(msg.slice(tail));
  if (m === null) return undefined;
  return m.map((g, i) => (i === 0 || g === undefined ? undefined : num(g)));
}

/** Parse a kill line, or undefined when the message is not exactly the kernel's kill line. */
export function parseKillLine(msg: string): KillLine | undefined {
  const k = killedPid(msg);
  if (k === undefined) return undefined;
  const { scope, pid: d } = k;
  if (msg.charCodeAt(d[1]) !== 32 || msg.charCodeAt(d[1] + 1) !== 40 /* ( */) return undefined;
  const commStart = d[1] + 2;
  // Parse from the right: comm may hold spaces and parentheses, the counters never do.
  let tail = msg.lastIndexOf(' total-vm:');
  if (tail < 0) tail = msg.lastIndexOf(' vsz:');
  let comm: string;
  let m: KillStats | undefined;
  let rhelUid: string | undefined;
  if (tail > commStart) {
    m = killStatsAt(msg, tail);
    if (m === undefined) return undefined;
    let commEnd = tail - 1;
    if (msg.charCodeAt(commEnd) !== 41 /* ) */) {
      // RHEL/CentOS 7 kernels print `(comm), UID N, total-vm:...`.
      const r = RHEL_UID.exec(msg.slice(Math.max(commStart, tail - 20), tail));
      if (r === null) return undefined;
      rhelUid = r[1];
      commEnd = tail - r[0].length;
    }
    if (commEnd < commStart) return undefined;
    comm = msg.slice(commStart, commEnd);
  } else {
    if (msg.charCodeAt(msg.length - 1) !== 41 /* ) */ || msg.length - 1 < commStart) return undefined;
    comm = msg.slice(commStart, msg.length - 1);
  }
  if (comm.length > TASK_COMM_MAX) return undefined;
  return {
    pid: d[0],
    comm,
    scope,
    totalVmKb: m?.[1] ?? null,
    anonRssKb: m?.[2] ?? null,
    fileRssKb: m?.[3] ?? null,
    shmemRssKb: m?.[4] ?? null,
    uid: m?.[5] !== undefined ? m[5] : num(rhelUid),
    pgtablesKb: m?.[6] ?? null,
    oomScoreAdj: m?.[7] ?? null,
    partial: false,
  };
}

const LOOSE_FIELDS: ReadonlyArray<readonly [keyof KillLine, RegExp]> = [
  ['totalVmKb', new RegExp(String.raw`(?:total-vm|vsz):${KB}(?!\w)`)],
  ['anonRssKb', new RegExp(String.raw`anon-rss:${KB}(?!\w)`)],
  ['fileRssKb', new RegExp(String.raw`file-rss:${KB}(?!\w)`)],
  ['shmemRssKb', new RegExp(String.raw`shmem-rss:${KB}(?!\w)`)],
  ['uid', /UID[: ](\d{1,10})(?=[ ,]|$)/],
  ['pgtablesKb', new RegExp(String.raw`pgtables:${KB}(?!\w)`)],
  ['oomScoreAdj', /oom_score_adj:(-?\d{1,4})(?=\D|$)/],
];

/**
 * A kill line that is not the kernel's whole line but names the killed pid (`Killed process N`
 * followed by a space or the end): a kill all the same, with what can be read of it. Each counter
 * is read only where the kernel's `name:value` stands whole; the comm only when its closing `)`
 * is there. Undefined when the message has no `[<prefix>: ]Killed process N` at its start.
 */
export function parsePartialKillLine(msg: string): KillLine | undefined {
  const k = killedPid(msg);
  if (k === undefined) return undefined;
  const { scope, pid: d } = k;
  if (d[1] < msg.length && msg.charCodeAt(d[1]) !== 32) return undefined;
  let comm: string | null = null;
  let rest = d[1];
  if (msg.charCodeAt(d[1] + 1) === 40 /* ( */) {
    const commStart = d[1] + 2;
    // The comm ends at the `)` before the counters (or the line's last `)`), within TASK_COMM_MAX.
    let tail = msg.indexOf(' total-vm:', commStart);
    if (tail < 0) tail = msg.indexOf(', UID ', commStart);
    const close = msg.lastIndexOf(')', tail < 0 ? msg.length : tail);
    if (close >= commStart && close - commStart <= TASK_COMM_MAX) {
      comm = msg.slice(commStart, close);
      rest = close + 1;
    }
  }
  const fields: Record<string, number | null> = {};
  const tailText = msg.slice(rest);
  for (const [key, re] of LOOSE_FIELDS) fields[key] = num(re.exec(tailText)?.[1]);
  return {
    pid: d[0],
    comm,
    scope,
    totalVmKb: fields['totalVmKb'] ?? null,
    anonRssKb: fields['anonRssKb'] ?? null,
    fileRssKb: fields['fileRssKb'] ?? null,
    shmemRssKb: fields['shmemRssKb'] ?? null,
    uid: fields['uid'] ?? null,
    pgtablesKb: fields['pgtablesKb'] ?? null,
    oomScoreAdj: fields['oomScoreAdj'] ?? null,
    partial: true,
  };
}

/**
 * A pasted line that a terminal or pager wrapped and the paste padded: a run of 3 or more spaces
 * inside the line where the wrap was (`anon-rss:830480k<spaces>B, file-rss:...`). Returns the
 * line with that run taken out, or made one space, whichever `parses` accepts; undefined when
 * neither does (then the line stays as it was).
 */
export function healWrappedLine(msg: string, parses: (s: string) => boolean): string | undefined {
  const m = /\S( {3,})\S/.exec(msg);
  if (m === null) return undefined;
  const at = m.index + 1;
  const end = at + (m[1] as string).length;
  for (const glue of ['', ' ']) {
    const s = msg.slice(0, at) + glue + msg.slice(end);
    if (parses(s)) return s;
  }
  return undefined;
}

/** A kill line the kernel printed whole (parseKillLine) or one a paste wrapped with padding. */
export function parseKillLineHealed(msg: string): KillLine | undefined {
  const k = parseKillLine(msg);
  if (k !== undefined || !msg.includes('   ')) return k;
  const healed = healWrappedLine(msg, (s) => parseKillLine(s) !== undefined);
  return healed === undefined ? undefined : parseKillLine(healed);
}

/** Which of the lines that name a kill `msg` is, when it is one but not whole; undefined otherwise. */
function brokenKind(msg: string): 'kill' | 'select' | 'summary' | undefined {
  if (msg.startsWith(SUMMARY)) return summaryPidUid(msg) === undefined ? 'summary' : undefined;
  if (parseKillLineHealed(msg) === undefined && parsePartialKillLine(msg) !== undefined) return 'kill';
  if (prefixOf(msg) !== undefined && msg.includes(': Kill process ') && parseSelectLine(msg) === undefined) return 'select';
  return undefined;
}

/**
 * True when `msg` is a kill, selection or summary line that is not whole: a line a terminal or a
 * pager may have cut in two (see joinBrokenLine).
 */
export function isBrokenOomLine(msg: string): boolean {
  return brokenKind(msg) !== undefined;
}

/**
 * `head` (a broken line, isBrokenOomLine) and `next` (the line after it, of no form of its own)
 * as the one line they were before a terminal or pager cut it: the cut may have been anywhere,
 * mid-field or at a space. Undefined unless the joined text is the kernel's whole line: nothing is
 * made up to fill a gap.
 */
export function joinBrokenLine(head: string, next: string): string | undefined {
  const kind = brokenKind(head);
  if (kind === undefined) return undefined;
  const whole = (s: string): boolean =>
    kind === 'kill' ? parseKillLine(s) !== undefined
    : kind === 'select' ? parseSelectLineWhole(s) !== undefined
    : parseSummaryLine(s) !== undefined;
  const rest = next.trimStart();
  for (const s of [head + next, head + rest, `${head} ${rest}`]) if (whole(s)) return s;
  return undefined;
}

/** `<prefix>: Kill process N (comm) score N or sacrifice child` (oom_kill_process, kernels ≤ 5.0). */
export interface SelectLine {
  readonly pid: number;
  readonly comm: string;
  readonly scope: OomScope;
  readonly score: number;
}

const SACRIFICE = /\) score (\d{1,10}) or sacrifice child$/;

export function parseSelectLine(msg: string): SelectLine | undefined {
  const s = parseSelectLineWhole(msg);
  if (s !== undefined || !msg.includes('   ')) return s;
  const healed = healWrappedLine(msg, (h) => parseSelectLineWhole(h) !== undefined);
  return healed === undefined ? undefined : parseSelectLineWhole(healed);
}

function parseSelectLineWhole(msg: string): SelectLine | undefined {
  const p = prefixOf(msg);
  if (p === undefined || !msg.startsWith('Kill process ', p[0].length)) return undefined;
  const d = digitsAt(msg, p[0].length + 13);
  if (d === undefined || msg.charCodeAt(d[1]) !== 32 || msg.charCodeAt(d[1] + 1) !== 40) return undefined;
  const commStart = d[1] + 2;
  const end = msg.lastIndexOf(') score ');
  if (end < commStart) return undefined;
  const m = SACRIFICE.exec(msg.slice(end));
  if (m === null) return undefined;
  const comm = msg.slice(commStart, end);
  if (comm.length > TASK_COMM_MAX) return undefined;
  return { pid: d[0], comm, scope: p[1], score: Number(m[1]) };
}

const INVOKED = ' invoked oom-killer: gfp_mask=';

/** `<comm> invoked oom-killer: gfp_mask=0x...(...), order=N, oom_score_adj=N` (dump_header): the trigger's comm. */
export function parseHeaderLine(msg: string): string | undefined {
  const i = msg.indexOf(INVOKED);
  // The comm is the whole text before it (≤ 15 bytes, so it cannot itself hold the marker).
  if (i < 1 || i > TASK_COMM_MAX) return undefined;
  return msg.slice(0, i);
}

/**
 * `oom-kill:constraint=C,nodemask=...,cpuset=...,mems_allowed=...,(oom_memcg=P|global_oom),task_memcg=P,task=comm,pid=N,uid=N`
 * (dump_oom_summary, ≥ 4.19). Paths, masks and comm can all hold commas.
 */
export interface SummaryLine {
  readonly constraint: string;
  /** Whose limit was hit; null with `global_oom`. */
  readonly oomMemcg: string | null;
  readonly globalOom: boolean;
  readonly taskMemcg: string;
  readonly task: string;
  readonly pid: number;
  readonly uid: number;
}

const SUMMARY = 'oom-kill:constraint=';
/**
 * Where the line's `,pid=(\d{1,10}),uid=(\d{1,10})$` starts, or -1; read from the right by hand
 * (the line is long and its regex would be tried at every position).
 */
function summaryTailAt(msg: string): number {
  const u = msg.lastIndexOf(',uid=');
  if (u < 0 || digitRunEnd(msg, u + 5, 10) !== msg.length) return -1;
  let d = u;
  while (d > 0 && msg.charCodeAt(d - 1) >= 48 && msg.charCodeAt(d - 1) <= 57) d--;
  if (d === u || u - d > 10 || !msg.startsWith(',pid=', d - 5)) return -1;
  return d - 5;
}
// mems_allowed is a node list (`0-1,3`): digits, dashes and commas, then the memcg part begins.
const SUMMARY_MEMCG = /,mems_allowed=[0-9-]*(?:,[0-9-]+)*,(oom_memcg=|global_oom,task_memcg=)/;

/** True for the first cheap test of a summary line. */
export function isSummaryLine(msg: string): boolean {
  return msg.startsWith(SUMMARY);
}

/** The trailing pid and uid of a summary line: unambiguous, read without knowing the comm. */
export function summaryPidUid(msg: string): [number, number] | undefined {
  return msg.startsWith(SUMMARY) ? pidUidAt(msg, summaryTailAt(msg)) : undefined;
}

/** The pid and uid of the summary's tail at `at` (summaryTailAt; -1 for none). */
function pidUidAt(msg: string, at: number): [number, number] | undefined {
  if (at < 0) return undefined;
  const u = msg.indexOf(',uid=', at);
  const pid = Number(msg.slice(at + 5, u));
  const uid = Number(msg.slice(u + 5));
  return Number.isSafeInteger(pid) && Number.isSafeInteger(uid) ? [pid, uid] : undefined;
}

function isSelfOrDescendant(child: string, parent: string): boolean {
  return child === parent || parent === '/' || child.startsWith(`${parent}/`);
}

/**
 * Parse a summary line from the right. `comm`, when known (the kill line prints it unambiguously),
 * pins where `,task=` starts; without it, the leftmost `,task=` among the last 15 + 6 characters is
 * taken (a comm is at most 15 bytes; a comm that itself holds `,task=` needs the kill line's comm). Between `oom_memcg=` and
 * `,task_memcg=` the split is chosen so that the task's memcg lies inside the OOM memcg, as the
 * kernel guarantees for a memcg OOM. Undefined when the line is not the kernel's summary.
 */
export function parseSummaryLine(msg: string, comm?: string): SummaryLine | undefined {
  if (!msg.startsWith(SUMMARY)) return undefined;
  const tail = summaryTailAt(msg);
  const pu = pidUidAt(msg, tail);
  if (pu === undefined) return undefined;
  const body = msg.slice(0, tail);
  const cEnd = body.indexOf(',', SUMMARY.length);
  if (cEnd < 0) return undefined;
  const constraint = body.slice(SUMMARY.length, cEnd);
  const mm = SUMMARY_MEMCG.exec(body);
  if (mm === null) return undefined;
  const midStart = mm.index + mm[0].length;
  let taskAt = -1;
  if (comm !== undefined && body.endsWith(`,task=${comm}`)) {
    taskAt = body.length - comm.length - 6;
  } else {
    taskAt = body.indexOf(',task=', Math.max(midStart, body.length - TASK_COMM_MAX - 6));
    if (taskAt < 0) taskAt = body.lastIndexOf(',task=');
  }
  if (taskAt < midStart) return undefined;
  const task = body.slice(taskAt + 6);
  const mid = body.slice(midStart, taskAt);
  if (mm[1] !== 'oom_memcg=') {
    return { constraint, oomMemcg: null, globalOom: true, taskMemcg: mid, task, pid: pu[0], uid: pu[1] };
  }
  const MARK = ',task_memcg=';
  let split = -1;
  let last = -1;
  for (let i = mid.indexOf(MARK); i >= 0; i = mid.indexOf(MARK, i + 1)) {
    last = i;
    if (split < 0 && isSelfOrDescendant(mid.slice(i + MARK.length), mid.slice(0, i))) split = i;
  }
  if (split < 0) split = last;
  if (split < 0) return undefined;
  return {
    constraint,
    oomMemcg: mid.slice(0, split),
    globalOom: false,
    taskMemcg: mid.slice(split + MARK.length),
    task,
    pid: pu[0],
    uid: pu[1],
  };
}

/** `Task in <path> killed as a result of limit of <path>` (mem_cgroup_print_oom_info, < 4.19). */
export interface TaskInLine {
  readonly taskMemcg: string;
  readonly oomMemcg: string;
}

const TASK_IN = 'Task in ';
const AS_RESULT = ' killed as a result of limit of ';

export function parseTaskInLine(msg: string): TaskInLine | undefined {
  if (!msg.startsWith(TASK_IN)) return undefined;
  // The victim's cgroup lies inside the limiting one: pick the split that says so.
  let last = -1;
  for (let i = msg.indexOf(AS_RESULT, TASK_IN.length); i >= 0; i = msg.indexOf(AS_RESULT, i + 1)) {
    last = i;
    const task = msg.slice(TASK_IN.length, i);
    const limit = msg.slice(i + AS_RESULT.length);
    if (isSelfOrDescendant(task, limit)) return { taskMemcg: task, oomMemcg: limit };
  }
  if (last < 0) return undefined;
  return { taskMemcg: msg.slice(TASK_IN.length, last), oomMemcg: msg.slice(last + AS_RESULT.length) };
}

const TASKS_IN = 'Tasks in ';
const GROUP_SET = ' are going to be killed due to memory.oom.group set';

/** `Tasks in <path> are going to be killed due to memory.oom.group set` (mem_cgroup_print_oom_group). */
export function parseGroupLine(msg: string): string | undefined {
  if (!msg.startsWith(TASKS_IN) || !msg.endsWith(GROUP_SET)) return undefined;
  return msg.slice(TASKS_IN.length, msg.length - GROUP_SET.length);
}

const SUPPRESSED = /^(\w+): (\d{1,10}) callbacks suppressed$/;

/**
 * `oom_kill_process: N callbacks suppressed` (lib/ratelimit.c, printed when the OOM report's rate
 * limit lets the next header through): N reports went without header. Only OOM functions count.
 */
export function parseSuppressedLine(msg: string): number | undefined {
  const m = SUPPRESSED.exec(msg);
  if (m === null || !(m[1] as string).startsWith('oom')) return undefined;
  return Number(m[2]);
}

/** `Out of memory and no killable processes...` (out_of_memory): a report that ends without a kill. */
export function isNoKillableLine(msg: string): boolean {
  return msg.startsWith('Out of memory and no killable processes');
}

const EXITING = /^(?:Memory cgroup out of memory|Out of memory(?: \(oom_kill_allocating_task\))?): OOM victim \d+ \(.*\) is already exiting\. Skip killing the task$/s;

/** `<prefix>: OOM victim N (comm) is already exiting. Skip killing the task`: no kill for this report. */
export function isAlreadyExitingLine(msg: string): boolean {
  return EXITING.test(msg);
}

/**
 * Which of the report's lines a message can be, by its first character: the header aside, which
 * starts with its comm (any character), every line this module parses starts with a letter of its
 * own (healWrappedLine takes padding out only after a character, so a healed line starts as it did):
 * - `prefixed`: `Killed process` (K) or `<prefix>: ` (M, O): a kill, a `Kill process` selection,
 *   no killable process, a victim already exiting;
 * - `tasks`: `Tasks in` (a group) and `Task in` (< 4.19);
 * - `oom`: the summary `oom-kill:constraint=` and `oom_kill_process: N callbacks suppressed`;
 * - `other`: none of them.
 */
export type OomLineStart = 'prefixed' | 'tasks' | 'oom' | 'other';

export function oomLineStart(msg: string): OomLineStart {
  switch (msg.charCodeAt(0)) {
    case 75: /* K */
    case 77: /* M */
    case 79: /* O */
      return 'prefixed';
    case 84: /* T */
      return 'tasks';
    case 111: /* o */
      return 'oom';
    default:
      return 'other';
  }
}

/**
 * Every OOM report line this module parses contains "ill": kill/Kill/Killed, oom-kill(er),
 * oom_kill_process, killed, killable, killing. Ordinary kernel messages seldom do.
 */
export const OOM_KEYWORD = 'ill';

/**
 * The cheap first test of the hot path: true when `text` (from index `from`) may hold an OOM
 * report line. Lines that fail it are skipped without a regex or an allocation.
 */
export function mayBeOomLine(text: string, from = 0): boolean {
  return indexOfOomKeyword(text, from) >= 0;
}

const KEYWORD_FIRST = OOM_KEYWORD.charCodeAt(0);
const KEYWORD_REST = OOM_KEYWORD.slice(1);

/**
 * `text.indexOf(OOM_KEYWORD, from)`, faster on log text: V8 finds a short pattern by its first
 * character, and "i" is among the commonest letters, so this looks for "ll" and checks the "i"
 * before it (a third of the time on a busy host's log).
 */
export function indexOfOomKeyword(text: string, from = 0): number {
  let at = Math.max(from, 0) + 1;
  for (;;) {
    at = text.indexOf(KEYWORD_REST, at);
    if (at < 0) return -1;
    if (text.charCodeAt(at - 1) === KEYWORD_FIRST) return at - 1;
    at++;
  }
}
