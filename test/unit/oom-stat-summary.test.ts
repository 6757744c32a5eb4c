/**
 * Readings of a report's lines held to what they replace:
 * - a stat record (memcgMeminfo.ts parseStatRecord) is checked line by line with a sticky regex
 *   and its values read with Number(); the oracle is the char-code reading written out here (key
 *   `[a-z0-9_]+`, one space, 1–20 digits, every line or none, empty lines skipped, a value beyond
 *   2^53 `'max'`);
 * - the kill's event reuses the summary line read without the kill line's comm when that reading's
 *   task is the comm (report.ts event()): parsing again with that comm must give the same fields;
 * - a task row's columns fill fixed slots (taskTable.ts parseTaskRow); the oracle reads them by
 *   column name into a map, as the parser did, and its numbers with a regex;
 * - the report parser tries on a message only the forms its first character allows
 *   (messages.ts oomLineStart): every line a parser accepts must start as its class says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStatRecord, type MemoryStat } from '../../src/oom/memcgMeminfo.js';
import {
  isAlreadyExitingLine,
  isNoKillableLine,
  isSummaryLine,
  oomLineStart,
  parseGroupLine,
  parseKillLineHealed,
  parsePartialKillLine,
  parseSelectLine,
  parseSummaryLine,
  parseSuppressedLine,
  parseTaskInLine,
} from '../../src/oom/messages.js';
import { parseTaskRow, type TaskRow } from '../../src/oom/taskTable.js';

/** The `key value` line msg[from, to) read char by char, or undefined when it is not one. */
function oracleLine(msg: string, from: number, to: number): [string, number | 'max'] | undefined {
  let i = from;
  const keyChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
  while (i < to && keyChar(msg.charCodeAt(i))) i++;
  if (i === from || i >= to || msg.charCodeAt(i) !== 32) return undefined;
  const key = msg.slice(from, i);
  const d = ++i;
  let n = 0;
  while (i < to && msg.charCodeAt(i) >= 48 && msg.charCodeAt(i) <= 57) n = n * 10 + (msg.charCodeAt(i++) - 48);
  if (i !== to || i === d || i - d > 20) return undefined;
  return [key, Number.isSafeInteger(n) ? n : 'max'];
}

function oracleRecord(msg: string): MemoryStat | undefined {
  const out: MemoryStat = {};
  const lines = msg.includes('\n') ? msg.split('\n') : [msg];
  for (const l of lines) {
    if (l === '' && msg.includes('\n')) continue;
    const kv = oracleLine(l, 0, l.length);
    if (kv === undefined) return undefined;
    out[kv[0]] = kv[1];
  }
  return out;
}

const statLine = fc
  .tuple(
    fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[a-z0-9_]{1,12}$/) }, { weight: 1, arbitrary: fc.constantFrom('', 'Tasks', 'a-b', 'a:b', 'é') }),
    fc.constantFrom(' ', ' ', ' ', '', '  ', ':'),
    fc.oneof(
      // Every length from 1 to 22 digits alike: the limit (20) and one past it come often.
      { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 1, max: 22 }), fc.stringMatching(/^\d{22}$/)).map(([n, d]) => d.slice(0, n)) },
      { weight: 1, arbitrary: fc.constantFrom('', '-1', '1x', '9007199254740993', '00000000000000000009', '1 2') },
    ),
  )
  .map(([k, sep, v]) => `${k}${sep}${v}`);

const statRecord = fc.oneof(
  statLine,
  fc.tuple(fc.array(fc.oneof({ weight: 6, arbitrary: statLine }, { weight: 1, arbitrary: fc.constant('') }), { minLength: 1, maxLength: 6 }), fc.boolean())
    .map(([ls, trailing]) => ls.join('\n') + (trailing ? '\n' : '')),
);

test('stat record: the regex reading gives what the char-code reading gives', () => {
  fc.assert(
    fc.property(statRecord, (msg) => {
      const into: MemoryStat = { before: 1 };
      const ok = parseStatRecord(msg, into);
      const want = oracleRecord(msg);
      assert.equal(ok, want !== undefined, JSON.stringify(msg));
      assert.deepEqual(into, want === undefined ? { before: 1 } : { before: 1, ...want }, JSON.stringify(msg));
    }),
    { numRuns: 20_000 },
  );
});

test('stat record: the limits of a line, one off either side', () => {
  const twenty = '9'.repeat(20);
  const s: MemoryStat = {};
  assert.ok(parseStatRecord(`hierarchical_memsw_limit ${twenty}`, s));
  assert.equal(s['hierarchical_memsw_limit'], 'max');
  assert.ok(!parseStatRecord(`a ${twenty}0`, {}));
  assert.ok(parseStatRecord('a 9007199254740991', s));
  assert.equal(s['a'], 9007199254740991);
  assert.ok(parseStatRecord('a 9007199254740992', s));
  assert.equal(s['a'], 'max');
  assert.ok(!parseStatRecord('a 1\nb 2x', s));
  assert.equal(s['b'], undefined);
});

// Paths, masks and comms as the kernel may print them: commas, `,task=`, `,task_memcg=` inside.
const part = fc.constantFrom('a', 'b,c', 'x,task=y', 'd ,e', 'pod', 'k,task_memcg=/q', '(z', '');
const path = fc.array(part, { minLength: 0, maxLength: 3 }).map((ps) => `/${ps.join('/')}`);
const comm = fc.oneof(fc.stringMatching(/^[a-z ,()=]{0,15}$/), fc.constantFrom('x,task=y) (z', 'task=', ',task=a', 'dd'));
const summary = fc
  .tuple(fc.boolean(), path, path, comm, fc.nat(99999))
  .map(([global, oom, sub, c, pid]) => {
    const memcg = global ? `global_oom,task_memcg=${oom}${sub}` : `oom_memcg=${oom},task_memcg=${oom}${sub}`;
    return `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,${memcg},task=${c},pid=${pid},uid=0`;
  });

test('summary line: read again with the task it read, it gives the same fields', () => {
  fc.assert(
    fc.property(summary, (line) => {
      const s = parseSummaryLine(line);
      if (s === undefined) return;
      assert.deepEqual(parseSummaryLine(line, s.task), s, line);
    }),
    { numRuns: 20_000 },
  );
});

/** A task row read by the column names into a record, as parseTaskRow read it before its slots. */
function oracleRow(msg: string, columns: readonly string[]): TaskRow | undefined {
  const intAt = (s: string, from: number): [number, number] | undefined => {
    const m = /^ *(-?)(\d+)/.exec(s.slice(from));
    if (m === null || (m[2] as string).length > 19) return undefined;
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return undefined;
    return [m[1] === '-' ? -n : n, from + m[0].length];
  };
  if (!msg.startsWith('[')) return undefined;
  const p = intAt(msg, 1);
  if (p === undefined || p[0] < 0 || msg[p[1]] !== ']') return undefined;
  let at = p[1] + 1;
  const v = new Map<string, number>();
  for (const col of columns) {
    if (msg[at] !== ' ') return undefined;
    const n = intAt(msg, at);
    if (n === undefined) return undefined;
    v.set(col, n[0]);
    at = n[1];
  }
  if (msg[at] !== ' ' || at + 1 >= msg.length) return undefined;
  const get = (k: string): number | null => v.get(k) ?? null;
  return {
    pid: p[0], uid: get('uid'), tgid: get('tgid'), totalVm: get('total_vm'), rss: get('rss'), rssAnon: get('rss_anon'),
    rssFile: get('rss_file'), rssShmem: get('rss_shmem'), pgtablesBytes: get('pgtables_bytes'), nrPtes: get('nr_ptes'),
    nrPmds: get('nr_pmds'), swapents: get('swapents'), oomScoreAdj: get('oom_score_adj'), name: msg.slice(at + 1),
  };
}

const column = fc.constantFrom(
  'uid', 'tgid', 'total_vm', 'rss', 'rss_anon', 'rss_file', 'rss_shmem', 'pgtables_bytes', 'nr_ptes', 'nr_pmds',
  'swapents', 'oom_score_adj', 'new_col', 'constructor', '__proto__',
);
const cell = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.nat(6), fc.boolean(), fc.stringMatching(/^\d{1,20}$/)).map(([pad, neg, d]) => `${' '.repeat(pad)}${neg ? '-' : ''}${d}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x', ' -', ' 1x', ' 9007199254740993') },
);
const taskRow = fc
  .tuple(fc.array(column, { maxLength: 12 }), fc.array(cell, { maxLength: 13 }), fc.stringMatching(/^\d{1,8}$/), fc.constantFrom(' dd', ' my 2 (odd)', '  x', ' ', '', 'dd'))
  .map(([cols, cells, pid, name]) => ({ cols, row: `[${' '.repeat(pid.length % 4)}${pid}]${cells.map((c) => (c.startsWith(' ') ? c : ` ${c}`)).join('')}${name}` }));

test('task row: read into slots, it gives what the read by column name gives', () => {
  fc.assert(
    fc.property(taskRow, ({ cols, row }) => {
      assert.deepEqual(parseTaskRow(row, cols), oracleRow(row, cols), `${JSON.stringify(cols)} ${row}`);
    }),
    { numRuns: 20_000 },
  );
});

const FORMS = [
  'Killed process 123 (dd) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB',
  'Memory cgroup out of memory: Killed process 5 (x y) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
  'Out of memory: Killed process 5 (a)',
  'Out of memory (oom_kill_allocating_task): Killed process 7 (b) total-vm:1kB, anon-rss:2kB, file-rss:3kB',
  'Killed process 5 (dd',
  'Memory cgroup out of memory: Kill process 5 (dd) score 100 or sacrifice child',
  'Out of memory and no killable processes...',
  'Memory cgroup out of memory: OOM victim 5 (dd) is already exiting. Skip killing the task',
  'Tasks in /a/b are going to be killed due to memory.oom.group set',
  'Task in /a/b killed as a result of limit of /a',
  'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=dd,pid=5,uid=0',
  'oom_kill_process: 3 callbacks suppressed',
  'dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
  ' oom_kill_process.cold+0x8/0x8a',
];
/** A form as it is, padded by a paste (spaces inserted), or with its first character changed or cut. */
const oomMessage = fc
  .tuple(fc.constantFrom(...FORMS), fc.nat(), fc.constantFrom('', 'pad', 'pad', 'first', 'drop', 'prepend'), fc.constantFrom(' ', 'K', 'M', 'O', 'T', 'o', 'k', 'x', '['))
  .map(([form, at, how, ch]) => {
    const i = at % form.length;
    if (how === 'pad') return `${form.slice(0, i)}   ${form.slice(i)}`;
    if (how === 'first') return ch + form.slice(1);
    if (how === 'drop') return form.slice(0, i) + form.slice(i + 1);
    if (how === 'prepend') return ch + form;
    return form;
  });

test('report lines start as oomLineStart says: no form is skipped by its first character', () => {
  const seen = { prefixed: 0, tasks: 0, oom: 0 };
  fc.assert(
    fc.property(oomMessage, (msg) => {
      const start = oomLineStart(msg);
      const prefixed =
        parseKillLineHealed(msg) !== undefined ||
        parsePartialKillLine(msg) !== undefined ||
        parseSelectLine(msg) !== undefined ||
        isNoKillableLine(msg) ||
        isAlreadyExitingLine(msg);
      const tasks = parseGroupLine(msg) !== undefined || parseTaskInLine(msg) !== undefined;
      const oom = isSummaryLine(msg) || parseSuppressedLine(msg) !== undefined;
      if (prefixed) seen.prefixed++;
      if (tasks) seen.tasks++;
      if (oom) seen.oom++;
      assert.ok(!prefixed || start === 'prefixed', msg);
      assert.ok(!tasks || start === 'tasks', msg);
      assert.ok(!oom || start === 'oom', msg);
    }),
    { numRuns: 20_000 },
  );
  // The forms were accepted often, padded ones included: the property was not vacuous.
  assert.ok(seen.prefixed > 2000 && seen.tasks > 500 && seen.oom > 500, JSON.stringify(seen));
});
