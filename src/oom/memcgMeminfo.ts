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
  for (const [start, n] of COUNTER_STARTS) {
    if (msg.startsWith(start)) {
      name = n;
      at = start.length;
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

/**
 * One `key value` line in msg[from, to): key `[a-z0-9_]+`, one space, 1–20 digits. Read with char
 * codes (the stat block is most of a memcg report's records). Undefined when it is not one.
 */
function statLineAt(msg: string, from: number, to: number): [string, number | 'max'] | undefined {
  let i = from;
  for (let c = msg.charCodeAt(i); i < to && ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95); c = msg.charCodeAt(++i));
  if (i === from || i >= to || msg.charCodeAt(i) !== 32) return undefined;
  const key = msg.slice(from, i);
  const d = ++i;
  let n = 0;
  for (let c = msg.charCodeAt(i); i < to && c >= 48 && c <= 57; c = msg.charCodeAt(++i)) n = n * 10 + (c - 48);
  if (i !== to || i === d || i - d > 20) return undefined;
  return [key, statValue(n)];
}

/**
 * Add the `key value` lines of one stat record to `into`. True when every line of the message was
 * one (the record belongs to the block); false, adding nothing, when the block has ended.
 */
export function parseStatRecord(msg: string, into: MemoryStat): boolean {
  const nl = msg.indexOf('\n');
  if (nl < 0) {
    const kv = statLineAt(msg, 0, msg.length);
    if (kv === undefined) return false;
    into[kv[0]] = kv[1];
    return true;
  }
  const pairs: [string, number | 'max'][] = [];
  for (let from = 0, end = nl; from < msg.length; from = end + 1, end = msg.indexOf('\n', from)) {
    if (end < 0) end = msg.length;
    if (end === from) continue;
    const kv = statLineAt(msg, from, end);
    if (kv === undefined) return false;
    pairs.push(kv);
  }
  for (const [k, v] of pairs) into[k] = v;
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
