/**
 * The kernel's account of a kill: the block parsers on inline strings, oom_badness() on a table
 * worked by hand, and the report state machine over the real captures (v1 memcg, v2 memcg with
 * its one-record stat block, a v2 system OOM with Mem-Info, the v1 storm's header-less kills).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKmsgRecord, type KmsgRecord } from '../../src/kmsg/record.js';
import { parseTaskColumns, parseTaskRow, type TaskRow } from '../../src/oom/taskTable.js';
import { parseMemcgCounterLine, parseStatRecord, parseStatsHeader, v1SubtreeIsLocal, type MemoryStat } from '../../src/oom/memcgMeminfo.js';
import { memInfoBytes, newMemInfoRaw, parseMemInfoSummary, parseMemInfoTotal, systemTotalPages } from '../../src/oom/memInfo.js';
import { candidatesOf, pageSizeOf, rankTasks, rowBadness } from '../../src/oom/badness.js';
import { OomReportParser, parseOomMessages } from '../../src/oom/report.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'oom');

function capture(file: string): KmsgRecord[] {
  return readFileSync(join(DIR, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => parseKmsgRecord(l));
}

function parseRecords(recs: readonly KmsgRecord[]): OomKillEvent[] {
  const events: OomKillEvent[] = [];
  const p = new OomReportParser({ onKill: (e) => events.push(e) });
  for (const r of recs) p.pushRecord(r);
  p.end();
  return events;
}

const COLS_618 = '[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name';
const COLS_61 = '[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name';
const COLS_414 = '[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name';

test('task table: each kernel generation is read by its own header row', () => {
  const c618 = parseTaskColumns(COLS_618);
  assert.deepEqual(c618, ['uid', 'tgid', 'total_vm', 'rss', 'rss_anon', 'rss_file', 'rss_shmem', 'pgtables_bytes', 'swapents', 'oom_score_adj']);
  const r = parseTaskRow('[   5961]     0  5961    33512    16762    16320      442         0   180224        0             0 dd', c618 ?? []);
  assert.deepEqual(r, {
    pid: 5961, uid: 0, tgid: 5961, totalVm: 33512, rss: 16762, rssAnon: 16320, rssFile: 442, rssShmem: 0,
    pgtablesBytes: 180224, nrPtes: null, nrPmds: null, swapents: 0, oomScoreAdj: 0, name: 'dd',
  });
  const c61 = parseTaskColumns(COLS_61) ?? [];
  // A comm with spaces and digits, a negative oom_score_adj.
  const r61 = parseTaskRow('[    110]  1000   110   113205    80028   684032       12          -999 my 2 (odd)', c61);
  assert.deepEqual([r61?.pid, r61?.uid, r61?.rss, r61?.rssAnon, r61?.pgtablesBytes, r61?.swapents, r61?.oomScoreAdj, r61?.name],
    [110, 1000, 80028, null, 684032, 12, -999, 'my 2 (odd)']);
  const r414 = parseTaskRow('[ 4322]     0  4322    27519    25330      58       3        0             0 stress', parseTaskColumns(COLS_414) ?? []);
  assert.deepEqual([r414?.nrPtes, r414?.nrPmds, r414?.pgtablesBytes], [58, 3, null]);
  // Not rows: the summary line, a row with a column missing, a header with no name column.
  assert.equal(parseTaskRow('oom-kill:constraint=CONSTRAINT_MEMCG', c61), undefined);
  assert.equal(parseTaskRow('[    110]  1000   110   113205    80028 dd', c61), undefined);
  assert.equal(parseTaskColumns('[  pid  ]   uid  tgid'), undefined);
});

test('memcg counters: bytes, and the kernel\'s no-limit value as max', () => {
  assert.deepEqual(parseMemcgCounterLine('memory: usage 65536kB, limit 65536kB, failcnt 19'),
    ['memory', { usage: 67108864, limit: 67108864, failcnt: 19 }]);
  assert.deepEqual(parseMemcgCounterLine('memory+swap: usage 65536kB, limit 9007199254740988kB, failcnt 0'),
    ['memsw', { usage: 67108864, limit: 'max', failcnt: 0 }]);
  assert.deepEqual(parseMemcgCounterLine('swap: usage 0kB, limit 9007199254740988kB, failcnt 0')?.[0], 'swap');
  assert.deepEqual(parseMemcgCounterLine('kmem: usage 196kB, limit 9007199254740988kB, failcnt 0')?.[1].usage, 200704);
  assert.equal(parseMemcgCounterLine('memory: usage 65536kB, limit 65536kB'), undefined);
});

test('memcg stats: one record per line (v1), one record of lines (v2), inline kB (up to 5.x)', () => {
  assert.deepEqual(parseStatsHeader('Memory cgroup stats for /a b/c:'), { cgroup: '/a b/c', inline: null });
  const v1: MemoryStat = {};
  assert.ok(parseStatRecord('rss 66908160', v1));
  assert.ok(parseStatRecord('hierarchical_memsw_limit 9223372036854771712', v1));
  assert.ok(!parseStatRecord('Tasks state (memory values in pages):', v1));
  assert.deepEqual(v1, { rss: 66908160, hierarchical_memsw_limit: 'max' });
  const v2: MemoryStat = {};
  assert.ok(parseStatRecord('anon 50008064\nfile 0\nkernel 323584\n', v2));
  assert.deepEqual(v2, { anon: 50008064, file: 0, kernel: 323584 });
  // A record whose lines are not all stats adds nothing.
  assert.ok(!parseStatRecord('anon 1\nnot a stat', v2));
  assert.deepEqual(Object.keys(v2), ['anon', 'file', 'kernel']);
  assert.deepEqual(parseStatsHeader('Memory cgroup stats for /k8s/pod: cache:0KB rss:65536KB rss_huge:0KB'), {
    cgroup: '/k8s/pod', inline: { cache: 0, rss: 67108864, rss_huge: 0 },
  });
  assert.equal(v1SubtreeIsLocal({ rss: 5, total_rss: 5, cache: 0, total_cache: 0 }), true);
  assert.equal(v1SubtreeIsLocal({ rss: 5, total_rss: 9 }), false);
  assert.equal(v1SubtreeIsLocal({ anon: 5 }), undefined);
});

test('Mem-Info: the summary record (pages, lines joined), the totals, the domain in pages', () => {
  const raw = newMemInfoRaw();
  assert.ok(parseMemInfoSummary('active_anon:767 inactive_anon:108098 isolated_anon:0\n active_file:0 free:928', raw));
  assert.ok(!parseMemInfoSummary('Node 0 active_anon:3068kB inactive_anon:432392kB', raw));
  for (const l of ['130942 pages RAM', '13838 pages reserved', 'Total swap = 2048kB', 'Free swap  = 1024kB', '25472 total pagecache pages']) {
    assert.ok(parseMemInfoTotal(l, raw), l);
  }
  assert.ok(!parseMemInfoTotal('lowmem_reserve[]: 0 338 338 338 338', raw));
  assert.deepEqual(memInfoBytes(raw, 4096), {
    active_anon: 767 * 4096, inactive_anon: 108098 * 4096, isolated_anon: 0, active_file: 0, free: 928 * 4096,
    ram: 130942 * 4096, reserved: 13838 * 4096, pagecache: 25472 * 4096, total_swap: 2048 * 1024, free_swap: 1024 * 1024,
  });
  // totalram_pages (RAM less reserved) + swap pages.
  assert.equal(systemTotalPages(raw, 4096), 130942 - 13838 + 512);
});

/** The last table of storm.kmsg (report 10 of 10, its victim 6274), rows in the kernel's order. */
const STORM_TABLE = `[   6258]     0  6258    33512      471       32      439         0    57344        0             0 dd
[   6259]     0  6259    33512     1880     1472      408         0    69632        0             0 dd
[   6263]     0  6263       56        0        0        0         0    12288        0             0 dd
[   6274]     0  6274    33512     2019     1600      419         0    65536        0             0 dd
[   6286]     0  6286    33512     1332      928      404         0    53248        0             0 dd`;

function rows(text: string, header: string): TaskRow[] {
  const cols = parseTaskColumns(header) ?? [];
  return text.split('\n').map((l) => parseTaskRow(l, cols) as TaskRow);
}

test('oom_badness by hand on the storm capture: rss + swapents + pgtables_bytes / 4096; the victim comes out on top', () => {
  const t = rows(STORM_TABLE, COLS_618);
  // 6274: 2019 + 0 + 65536/4096 (16) = 2035; 6259: 1880 + 69632/4096 (17) = 1897;
  // 6286: 1332 + 53248/4096 (13) = 1345; 6258: 471 + 57344/4096 (14) = 485; 6263: 0 + 12288/4096 (3) = 3.
  assert.deepEqual(t.map((r) => rowBadness(r, 6144, 4096)), [485, 1897, 3, 2035, 1345]);
  const ranked = rankTasks(t, 6144, 4096);
  const c = candidatesOf(ranked, 6274, 3);
  assert.deepEqual(c.map((x) => [x.pid, x.badness, x.victim]), [[6274, 2035, true], [6259, 1897, false], [6286, 1345, false]]);
});

test('oom_badness: oom_score_adj × (domain pages / 1000, integer first); -1000 never; a tie goes to the later task', () => {
  // The v2 system OOM capture: 117104 pages (RAM less reserved, no swap) → 117 per unit of adj.
  const t = rows(
    `[     89]     0    89   215053    10533   491520        0             0 node
[     95]     0    95   256090    11515   516096        0             0 node
[    110]     0   110   113205    80028   684032        0          1000 dd`,
    COLS_61,
  );
  assert.deepEqual(t.map((r) => rowBadness(r, 117104, 4096)), [10533 + 120, 11515 + 126, 80028 + 167 + 1000 * 117]);
  assert.equal(rowBadness(t[2] as TaskRow, null, 4096), null, 'adj without its domain is unknown');
  const tie = rows(
    `[      4]     0     4      100       50     4096        0             0 a
[      2]     0     2      100       50     4096        0             0 b
[      3]     0     3      100     9999     4096        0         -1000 c`,
    COLS_61,
  );
  assert.deepEqual(candidatesOf(rankTasks(tie, 1000, 4096), 2, 5).map((x) => [x.pid, x.badness]), [[2, 51], [4, 51], [3, null]]);
});

test('the page size comes from the victim: its kill line in kB against its row in pages', () => {
  const [r] = rows('[    106]     0   106    16949     8550   102400        0             0 dd', COLS_61);
  assert.equal(pageSizeOf(r, 32616 + 4 + 1580), 4096);
  assert.equal(pageSizeOf(r, 8550 * 64), 65536);
  assert.equal(pageSizeOf(undefined, 100), 4096);
});

test('k8s-cgroupfs.kmsg (v1, 6.18): memory, memsw and kmem in bytes, the 44 stats, the one candidate', () => {
  const [e, ...rest] = parseRecords(capture('k8s-cgroupfs.kmsg'));
  assert.equal(rest.length, 0);
  assert.ok(e !== undefined);
  assert.deepEqual(e.memory, {
    usage: 65536 * 1024, limit: 65536 * 1024, failcnt: 19,
    swap: null, memsw: { usage: 65536 * 1024, limit: 'max', failcnt: 0 }, kmem: { usage: 196 * 1024, limit: 'max', failcnt: 0 },
  });
  const stat = e.memory_stat ?? {};
  assert.equal(Object.keys(stat).length, 42);
  assert.deepEqual([Object.keys(stat)[0], Object.keys(stat).at(-1)], ['cache', 'total_unevictable']);
  assert.deepEqual([stat.rss, stat.total_rss, stat.hierarchical_memory_limit, stat.hierarchical_memsw_limit, stat.pgfault],
    [66908160, 66908160, 67108864, 'max', 16386]);
  assert.equal(e.mem_info, null);
  assert.deepEqual(e.candidates?.map((c) => [c.pid, c.process, c.rss_anon_pages, c.rss_file_pages, c.badness, c.victim]),
    [[5961, 'dd', 16320, 442, 16762 + 44, true]]);
  assert.equal(e.candidates_total, 1);
});

test('v2-real/global-oom.kmsg: a system OOM keeps Mem-Info, no memcg block; dd (oom_score_adj 1000) on top of 3', () => {
  const [e] = parseRecords(capture('v2-real/global-oom.kmsg'));
  assert.ok(e !== undefined);
  assert.equal(e.scope, 'system');
  assert.equal(e.memory, null);
  assert.equal(e.memory_stat, null);
  const mi = e.mem_info ?? {};
  assert.deepEqual([mi.active_anon, mi.inactive_anon, mi.free, mi.slab_reclaimable, mi.free_cma], [767, 108098, 928, 2375, 0].map((p) => p * 4096));
  assert.deepEqual([mi.ram, mi.reserved, mi.total_swap, mi.pagecache], [130942 * 4096, 13838 * 4096, 0, 25472 * 4096]);
  assert.deepEqual(e.candidates?.map((c) => [c.pid, c.badness, c.victim]), [[110, 197195, true], [95, 11641, false], [89, 10653, false]]);
  assert.equal(e.candidates_total, 3);
  // A text log may print the summary record's lines as lines of their own: the same summary.
  const lines = capture('v2-real/global-oom.kmsg').flatMap((r) => (r.message.startsWith('active_anon:') ? r.message.split('\n') : [r.message]));
  assert.ok(lines.length > capture('v2-real/global-oom.kmsg').length);
  assert.deepEqual(parseOomMessages(lines).events[0]?.mem_info, e.mem_info);
});

test('storm.kmsg: full reports keep their top 5 of the table; the 20 header-less kills are placed by pid', () => {
  const events = parseRecords(capture('storm.kmsg'));
  const full = events.filter((e) => e.trigger_process !== null);
  assert.equal(full.length, 10);
  for (const e of full) {
    assert.ok((e.candidates?.length ?? 0) <= 5 && (e.candidates_total ?? 0) >= (e.candidates?.length ?? 0));
    assert.equal(e.candidates?.[0]?.pid, e.pid, `the victim of report ${e.seq} has the highest badness`);
    assert.equal(e.candidates?.[0]?.victim, true);
  }
  assert.equal(full.at(-1)?.candidates_total, 21);
  const headerless = events.filter((e) => e.trigger_process === null);
  assert.equal(headerless.length, 20);
  assert.ok(headerless.every((e) => e.victim_cgroup === '/oomwatch-capture/storm' && e.unit === null && e.candidates === null));
});

/**
 * The storm capture twice, as two storms in sibling cgroups at once: the second copy's pids moved
 * by 1000 and its cgroup renamed. The kernel prints one report at a time (oom_lock), so the two
 * interleave report by report and kill line by kill line.
 */
function twoStorms(): KmsgRecord[] {
  const a = capture('storm.kmsg');
  const b = a.map((r) => ({
    ...r,
    message: r.message.replaceAll('/oomwatch-capture/storm', '/oomwatch-capture/storm2').replace(/\b(6[23]\d\d)\b/g, (p) => String(Number(p) + 1000)),
  }));
  const units = (recs: KmsgRecord[]): KmsgRecord[][] => {
    const out: KmsgRecord[][] = [];
    let cur: KmsgRecord[] = [];
    for (const r of recs) {
      cur.push(r);
      if (r.message.includes('Killed process')) {
        out.push(cur);
        cur = [];
      }
    }
    return out;
  };
  const ua = units(a);
  const ub = units(b);
  const merged: KmsgRecord[] = [];
  for (let i = 0; i < Math.max(ua.length, ub.length); i++) merged.push(...(ua[i] ?? []), ...(ub[i] ?? []));
  return merged.map((r, i) => ({ ...r, seq: 1 + i, tsUsec: 1_000_000 + i * 1000 }));
}

test('two storms in sibling cgroups: every header-less kill lands in its own cgroup', () => {
  const events = parseRecords(twoStorms());
  assert.equal(events.length, 60);
  const where = (e: OomKillEvent): string => (e.pid >= 7257 ? '/oomwatch-capture/storm2' : '/oomwatch-capture/storm');
  const wrong = events.filter((e) => e.victim_cgroup !== where(e));
  assert.deepEqual(wrong.map((e) => [e.pid, e.victim_cgroup]), []);
  assert.equal(events.filter((e) => e.trigger_process === null).length, 40);
});

test('a table places nothing beyond its window, nor a pid it does not list, nor for a cgroup with memory below it', () => {
  const recs = capture('storm.kmsg');
  const lastKill = recs.findLastIndex((r) => r.message.includes('oom-kill:constraint'));
  // The header-less kills 20 s after the last full report: beyond the 10 s window.
  const late = recs.map((r, i) => (i > lastKill + 1 ? { ...r, tsUsec: r.tsUsec + 20_000_000 } : r));
  assert.ok(parseRecords(late).filter((e) => e.trigger_process === null).every((e) => e.victim_cgroup === null));
  // A pid no table listed.
  const other = recs.map((r, i) => (i === recs.length - 1 ? { ...r, message: r.message.replace('Killed process 6263', 'Killed process 99999') } : r));
  assert.equal(parseRecords(other).at(-1)?.victim_cgroup, null);
  // v1 stats saying memory is charged below the cgroup (total_rss > rss): its tasks may live in children.
  const nested = recs.map((r) => (r.message.startsWith('total_rss ') ? { ...r, message: 'total_rss 999999999' } : r));
  assert.ok(parseRecords(nested).filter((e) => e.trigger_process === null).every((e) => e.victim_cgroup === null));
});

test('a report without blocks (hand-written lines) carries nulls; lines outside a report are not read as blocks', () => {
  const { events } = parseOomMessages([
    'memory: usage 1kB, limit 1kB, failcnt 1',
    '[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name',
    '[      7]     0     7      100       50     4096        0             0 dd',
    'dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
    'Memory cgroup out of memory: Killed process 7 (dd) total-vm:400kB, anon-rss:200kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
  ]);
  assert.deepEqual(
    events.map((e) => [e.memory, e.memory_stat, e.mem_info, e.candidates, e.candidates_total]),
    [[null, null, null, null, null]],
  );
});
