/**
 * What a memory cgroup OOM report says about the cgroup whose limit was hit (pure), as
 * mm/memcontrol.c mem_cgroup_print_oom_meminfo() (mem_cgroup_print_oom_info < 4.19) prints it:
 *
 *   memory: usage 65536kB, limit 65536kB, failcnt 19
 *   memory+swap: usage ...  (v1)     swap: usage ...  (v2)     kmem: usage ...  (v1)
 *   Memory cgroup stats for /path:
 *
 * then the stat block, in one of three forms:
 *   - up to 5.x: on the same line, ` cache:0KB rss:65536KB ...` (kB), one such line per cgroup of
 *     the subtree, the OOM cgroup first;
 *   - v2 (memory_stat_format, 5.x+): one record holding every `key value` line of memory.stat,
 *     joined by newlines (the `\x0a` escapes of /dev/kmsg, decoded);
 *   - v1 (6.x): one record per `key value` line (memory.stat's v1 keys, `total_*` included).
 * Values are bytes for sizes and plain counts for events (pgfault, workingset_*), as memory.stat.
 */
import { KB, digitRunEnd, groupedNumber } from './messages.js';

/** One page counter as the report prints it, in bytes; `'max'` for no limit. */
export interface MemcgCounter {
  usage: number;
  limit: number | 'max';
  failcnt: number;
}

/** `memory` of a kill event: the OOM cgroup's counters at the OOM, in bytes. */
export interface OomMemory extends MemcgCounter {
  /** v2 `swap:` (memory.swap.*); null when not printed. */
  swap: MemcgCounter | null;
  /** v1 `memory+swap:` (memory.memsw.*); null when not printed. */
  memsw: MemcgCounter | null;
  /** v1 `kmem:` (memory.kmem.*); null when not printed. */
  kmem: MemcgCounter | null;
}

/** The stat block, keys as the kernel printed them, in its order; `'max'` for an unlimited limit. */
export type MemoryStat = Record<string, number | 'max'>;

export type CounterName = 'memory' | 'memsw' | 'swap' | 'kmem';

// Sizes as the kernel prints them, or grouped by a paste (`65,536kB`: messages.ts KB).
const COUNTER = new RegExp(String.raw`^(memory|memory\+swap|swap|kmem): usage ${KB}, limit ${KB}, failcnt (\d{1,20})$`);

/**
 * A page counter's limit in bytes. No real limit reaches 8 PiB: a byte count beyond 2^53 is the
 * kernel's "no limit" (PAGE_COUNTER_MAX pages, printed as 9007199254740988kB with 4 KiB pages).
 */
function limitBytes(kb: number): number | 'max' {
  const b = kb * 1024;
  return Number.isSafeInteger(b) ? b : 'max';
}

const COUNTER_STARTS: ReadonlyArray<readonly [string, CounterName]> = [
  ['memory: usage ', 'memory'],
  ['memory+swap: usage ', 'memsw'],
  ['swap: usage ', 'swap'],
  ['kmem: usage ', 'kmem'],
];

/**
 * A counter line with plain digits, as the kernel prints it, read in place: the COUNTER regex
 * (whose size is most of the cost of a report's first counter line) is left for the grouped forms
 * of a paste. The fields are the digit runs COUNTER would capture (a run of plain digits right
 * before `kB` can only be its `\d{1,19}`). Null when the line is not in that form.
 */
function plainCounterLine(msg: string): [CounterName, MemcgCounter] | undefined | null {
  let name: CounterName | undefined;
  let at = 0;
  for (let i = 0; i < COUNTER_STARTS.length; i++) {
    const start = COUNTER_STARTS[i] as readonly [string, CounterName];
    if (msg.startsWith(start[0])) {
      name = start[1];
      at = start[0].length;
      break;
    }
  }
  if (name === undefined) return null;
  const u = digitRunEnd(msg, at, 19);
  if (u < 0 || !msg.startsWith('kB, limit ', u)) return null;
  const l = digitRunEnd(msg, u + 10, 19);
  if (l < 0 || !msg.startsWith('kB, failcnt ', l)) return null;
  const f = digitRunEnd(msg, l + 12, 20);
  if (f !== msg.length) return null;
  const usage = Number(msg.slice(at, u)) * 1024;
  const failcnt = Number(msg.slice(l + 12, f));
  if (!Number.isSafeInteger(usage) || !Number.isSafeInteger(failcnt)) return undefined;
  return [name, { usage, limit: limitBytes(Number(msg.slice(u + 10, l))), failcnt }];
}

/** `memory: usage NkB, limit NkB, failcnt N` and its swap/memsw/kmem siblings, or undefined. */
export function parseMemcgCounterLine(msg: string): [CounterName, MemcgCounter] | undefined {
  const plain = plainCounterLine(msg);
  if (plain !== null) return plain;
  const m = COUNTER.exec(msg);
  if (m === null) return undefined;
  const usage = groupedNumber(m[2] as string) * 1024;
  const failcnt = Number(m[4]);
  if (!Number.isSafeInteger(usage) || !Number.isSafeInteger(failcnt)) return undefined;
  const name = m[1] === 'memory+swap' ? 'memsw' : (m[1] as CounterName);
  return [name, { usage, limit: limitBytes(groupedNumber(m[3] as string)), failcnt }];
}

const STATS_FOR = 'Memory cgroup stats for ';

/** `Memory cgroup stats for <path>:[ key:NKB ...]`: the path and what follows the colon. */
export interface StatsHeader {
  readonly cgroup: string;
  /** The inline stat list of kernels up to 5.x, in bytes; null when the stats follow on their own lines. */
  readonly inline: MemoryStat | null;
}

const INLINE_PAIR = / ([a-z_0-9]+):(\d{1,20})KB/g;

export function parseStatsHeader(msg: string): StatsHeader | undefined {
  if (!msg.startsWith(STATS_FOR)) return undefined;
  if (msg.endsWith(':')) return { cgroup: msg.slice(STATS_FOR.length, -1), inline: null };
  // The inline form: the path ends at the first `: key:NKB` (a path may hold `:`, rarely).
  const m = /: [a-z_0-9]+:\d+KB/.exec(msg.slice(STATS_FOR.length));
  if (m === null) return undefined;
  const end = STATS_FOR.length + m.index;
  const inline: MemoryStat = {};
  for (const p of msg.slice(end + 1).matchAll(INLINE_PAIR)) {
    inline[p[1] as string] = statValue(Number(p[2]) * 1024);
  }
  return { cgroup: msg.slice(STATS_FOR.length, end), inline };
}

function statValue(n: number): number | 'max' {
  // Only the hierarchical_*_limit keys of an unlimited v1 cgroup exceed 2^53.
  return Number.isSafeInteger(n) ? n : 'max';
}

// One `key value` line: key `[a-z0-9_]+`, one space, 1–20 digits, then the line's end (a newline
// or the message's). Sticky: tried at a line's start.
const STAT_LINE = /[a-z0-9_]+ \d{1,20}(?=\n|$)/y;

/**
 * The index of the space of the `key value` line that starts at `from`, or -1 when the line is not
 * one. A regex rather than a loop over char codes: the stat block is most of a memcg report's
 * records, and a report is met cold (once a kill in the daemon, once a run in `oomwatch parse`),
 * where V8 runs a compiled regex at once and a JavaScript loop in its interpreter first.
 */
function statLineSpace(msg: string, from: number): number {
  STAT_LINE.lastIndex = from;
  return STAT_LINE.test(msg) ? msg.indexOf(' ', from) : -1;
}

/** The value of a `key value` line whose space is at `space` and which ends at `to`. */
function statLineValue(msg: string, space: number, to: number): number | 'max' {
  return statValue(Number(msg.slice(space + 1, to)));
}

/**
 * Add the `key value` lines of one stat record to `into`. True when every line of the message was
 * one (the record belongs to the block); false, adding nothing, when the block has ended.
 */
export function parseStatRecord(msg: string, into: MemoryStat): boolean {
  const nl = msg.indexOf('\n');
  if (nl < 0) {
    const sp = statLineSpace(msg, 0);
    if (sp < 0) return false;
    into[msg.slice(0, sp)] = statLineValue(msg, sp, msg.length);
    return true;
  }
  // Every line is checked before any is added.
  for (let from = 0, end = nl; from < msg.length; from = end + 1, end = msg.indexOf('\n', from)) {
    if (end < 0) end = msg.length;
    if (end !== from && statLineSpace(msg, from) < 0) return false;
  }
  for (let from = 0, end = nl; from < msg.length; from = end + 1, end = msg.indexOf('\n', from)) {
    if (end < 0) end = msg.length;
    if (end === from) continue;
    const sp = msg.indexOf(' ', from);
    into[msg.slice(from, sp)] = statLineValue(msg, sp, end);
  }
  return true;
}

/**
 * True when a v1 stat block shows no memory below its own cgroup: every `total_X` (the subtree)
 * equals its `X` (the cgroup itself). Undefined when the block has no `total_*` keys (not v1's).
 */
export function v1SubtreeIsLocal(stat: MemoryStat): boolean | undefined {
  let seen = false;
  for (const k of Object.keys(stat)) {
    if (!k.startsWith('total_')) continue;
    const local = stat[k.slice(6)];
    if (local === undefined) continue;
    seen = true;
    if (local !== stat[k]) return false;
  }
  return seen ? true : undefined;
}
