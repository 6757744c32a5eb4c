/**
 * `oomwatch rank`'s logic on tables worked by hand: the kernel's oom_badness() in pages with its
 * rounding, oom_score_adj moving the order, -1000 and init never, ties, and which OOM fires.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupTotalPages, oomDomainOf, rankCandidates, scanOrder, type HostMemory, type LimitLevel } from '../../src/oom/rank.js';
import { oomBadness } from '../../src/oom/badness.js';
import type { Candidate } from '../../src/proc/candidates.js';
import { parseProcStatus } from '../../src/proc/status.js';
import { parseOomScore, parseOomScoreAdj } from '../../src/proc/oomScore.js';
import { parseMemTotals } from '../../src/proc/meminfo.js';
import { parseAuxvPageSize } from '../../src/proc/auxv.js';
import { ParseError } from '../../src/errors.js';

const cand = (pid: number, rssKb: number, adj = 0, extra: Partial<Candidate> = {}): Candidate => ({
  pid, process: `p${pid}`, uid: 0, system_oom_score: 0, oom_score_adj: adj, rss_kb: rssKb, rss_anon_kb: null, rss_file_kb: null,
  rss_shmem_kb: null, swap_kb: 0, pgtables_kb: 0, cgroup: '/x', ...extra,
});
const MiB = 1024 * 1024;
const PAGE = 4096;

test('oom_badness: pages of rss + swap + page tables, plus adj × (total pages / 1000) with the division first', () => {
  // 16384 pages (64 MiB): 16 pages per unit of adj, not 16.384 (and not 65 kB: kB would round otherwise).
  assert.equal(oomBadness({ pid: 5, rssPages: 2000, swapPages: 0, pgtablesPages: 10, oomScoreAdj: 600 }, 16384), 2010 + 600 * 16);
  assert.equal(oomBadness({ pid: 5, rssPages: 5000, swapPages: 0, pgtablesPages: 0, oomScoreAdj: -300 }, 16384), 5000 - 300 * 16);
  assert.equal(oomBadness({ pid: 5, rssPages: 1, swapPages: 0, pgtablesPages: 0, oomScoreAdj: -999 }, 16384), 1 - 999 * 16, 'negative: chosen only when nothing else is');
  assert.equal(oomBadness({ pid: 5, rssPages: 1, swapPages: 0, pgtablesPages: 0, oomScoreAdj: 1000 }, 999), 1, 'under 1000 pages adj adds nothing');
  assert.equal(oomBadness({ pid: 5, rssPages: 90_000, swapPages: 0, pgtablesPages: 0, oomScoreAdj: -1000 }, 16384), null);
  assert.equal(oomBadness({ pid: 1, rssPages: 90_000, swapPages: 0, pgtablesPages: 0, oomScoreAdj: 0 }, 16384), null, 'global init');
});

test('a table worked by hand: adj moves the order, -1000 and init never, a three-way tie goes to the last scanned', () => {
  //            pages: rss   swap  pt   adj     badness (16 pages per adj)    by size
  // 10 A              10000 100   20   0       10120                          1
  // 11 B              2000  0     10   600     2010 + 9600 = 11610            3
  // 12 C              5000  0     0    -300    5000 - 4800 = 200              2
  // 13 D              250   0     0    0       250                            4
  // 20 G, 21 H        200   0     0    0       200 each                       6, 5 (a tie: H scanned last)
  // 14 E (-1000), 1 (init): never
  const rows = [
    cand(21, 800), cand(14, 360_000, -1000), cand(1, 9000), cand(13, 1000), cand(12, 20_000, -300),
    cand(11, 8000, 600, { pgtables_kb: 40 }), cand(10, 40_000, 0, { swap_kb: 400, pgtables_kb: 80 }), cand(20, 800),
  ];
  const ranked = rankCandidates(rows, { scope: 'cgroup', totalPages: 16384 }, PAGE);
  assert.deepEqual(
    ranked.map((r) => [r.pid, r.rank, r.badness_pages, r.rank_by_size, r.tie]),
    [
      [11, 1, 11610, 3, false],
      [10, 2, 10120, 1, false],
      [13, 3, 250, 4, false],
      // C, G, H tie at 200; the kernel scans /x's processes by pid (12, 20, 21) and keeps the last.
      [21, 4, 200, 5, true],
      [20, 5, 200, 6, true],
      [12, 6, 200, 2, true],
      [1, null, null, null, false],
      [14, null, null, null, false],
    ],
  );
  assert.equal(ranked[0]?.points_permille, 708.6, '11610 / 16384 pages in ‰');
  assert.equal(ranked[3]?.points_permille, 12.2);
});

test('the same processes against RAM + swap: adj weighs by the host\'s pages, the order can change', () => {
  // 4 GiB = 1048576 pages: 1048 pages per adj; B = 2010 + 628800, C = 5000 - 314400 < 0 (still chosen, last).
  const ranked = rankCandidates([cand(10, 40_000), cand(11, 8000, 600, { pgtables_kb: 40 }), cand(12, 20_000, -300)], { scope: 'system', totalPages: 1_048_576 }, PAGE);
  assert.deepEqual(ranked.map((r) => [r.pid, r.rank, r.badness_pages]), [[11, 1, 630810], [10, 2, 10000], [12, 3, -309400]]);
});

test('scan order: a system OOM by pid; a cgroup OOM the cgroup\'s own processes before its children\'s', () => {
  const a = cand(50, 1, 0, { cgroup: '/p/child' });
  const b = cand(60, 1, 0, { cgroup: '/p' });
  const c = cand(40, 1, 0, { cgroup: '/p/child/deeper' });
  assert.deepEqual([a, b, c].sort(scanOrder('system')).map((x) => x.pid), [40, 50, 60]);
  assert.deepEqual([a, b, c].sort(scanOrder('cgroup')).map((x) => x.pid), [60, 50, 40]);
  // Equal points across the levels: the last scanned (the deepest) is killed first.
  assert.deepEqual(rankCandidates([a, b, c], { scope: 'cgroup', totalPages: 16384 }, PAGE).map((x) => x.pid), [40, 50, 60]);
});

const HOST: HostMemory = { memTotalKb: 4 * 1024 * 1024, swapTotalKb: 0, pageSize: PAGE };
const level = (cgroup: string, limit: number | null, usage: number, swap: number | null = null): LimitLevel => ({ cgroup, limitBytes: limit, usageBytes: usage, swapLimitBytes: swap });

test('which OOM: the limit with the least room left among the cgroup\'s and its ancestors\', not the smallest', () => {
  const own = oomDomainOf([level('/a/b', 64 * MiB, 10 * MiB), level('/a', null, 12 * MiB)], HOST);
  assert.deepEqual([own.scope, own.oomCgroup, own.totalPages], ['cgroup', '/a/b', 16384]);
  assert.match(own.why, /only limit on \/a\/b/);
  // /a/b's limit is the smaller, but /a (128M, 120M used by its other children too) has 8M left.
  const parent = oomDomainOf([level('/a/b', 64 * MiB, 10 * MiB), level('/a', 128 * MiB, 120 * MiB)], HOST);
  assert.deepEqual([parent.oomCgroup, parent.totalPages, parent.limitBytes, parent.usageBytes], ['/a', 32768, 128 * MiB, 120 * MiB]);
  assert.match(parent.why, /every process of \/a and below, not only \/a\/b's/);
  const child = oomDomainOf([level('/a/b', 64 * MiB, 60 * MiB), level('/a', 128 * MiB, 100 * MiB)], HOST);
  assert.equal(child.oomCgroup, '/a/b');
  const tie = oomDomainOf([level('/a/b', 64 * MiB, 32 * MiB), level('/a', 96 * MiB, 64 * MiB)], HOST);
  assert.equal(tie.oomCgroup, '/a/b', 'equal room: the lowest level is charged, and fails, first');
});

test('which OOM: no limit, or only limits the host cannot reach, is a system OOM against RAM + swap', () => {
  const host = { ...HOST, swapTotalKb: 1024 * 1024 };
  for (const levels of [[], [level('/a', null, MiB)], [level('/a', 8 * 1024 * MiB, MiB)]]) {
    const d = oomDomainOf(levels, host);
    assert.deepEqual([d.scope, d.oomCgroup, d.totalPages], ['system', null, 1_048_576 + 262_144]);
  }
  assert.match(oomDomainOf([level('/a', 8 * 1024 * MiB, MiB)], host).why, /above RAM \+ swap/);
});

test('a cgroup OOM\'s pages: the limit plus the swap it may use, at most the host\'s (mem_cgroup_get_max)', () => {
  const host = { ...HOST, swapTotalKb: 1024 * 1024 };
  assert.equal(cgroupTotalPages({ ...level('/a', 64 * MiB, 0, 100 * MiB), limitBytes: 64 * MiB }, host), 16384 + 25600);
  assert.equal(cgroupTotalPages({ ...level('/a', 64 * MiB, 0, null), limitBytes: 64 * MiB }, host), 16384 + 262_144, 'unlimited swap: all the host has');
  assert.equal(cgroupTotalPages({ ...level('/a', 64 * MiB, 0, null), limitBytes: 64 * MiB }, HOST), 16384, 'no swap on the host');
});

test('auxv: AT_PAGESZ from the pairs of native words', () => {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(33n, 0); // AT_SYSINFO_EHDR
  b.writeBigUInt64LE(0x7ffdn, 8);
  b.writeBigUInt64LE(6n, 16);
  b.writeBigUInt64LE(16384n, 24);
  assert.equal(parseAuxvPageSize(b), 16384);
  assert.throws(() => parseAuxvPageSize(Buffer.alloc(32)), ParseError, 'AT_NULL before any AT_PAGESZ');
  const odd = Buffer.from(b);
  odd.writeBigUInt64LE(5000n, 24);
  assert.throws(() => parseAuxvPageSize(odd), ParseError);
});

test('/proc/<pid>/status: the OOM-relevant fields; kernel threads have no memory map', () => {
  const s = parseProcStatus('Name:\tmy (odd),name\nUmask:\t0022\nPid:\t42\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t    1712 kB\nRssAnon:\t     116 kB\nRssFile:\t    1596 kB\nRssShmem:\t       0 kB\nVmPTE:\t      48 kB\nVmSwap:\t       7 kB\n');
  assert.deepEqual(s, { name: 'my (odd),name', pid: 42, uid: 1000, kthread: false, vmRssKb: 1712, rssAnonKb: 116, rssFileKb: 1596, rssShmemKb: 0, vmSwapKb: 7, vmPteKb: 48 });
  assert.equal(parseProcStatus('Name:\tkworker/0:1\nPid:\t9\nKthread:\t1\n').kthread, true);
  assert.throws(() => parseProcStatus('Name:\tx\nPid:\t1\nVmRSS:\tlots\n'), ParseError);
  assert.throws(() => parseProcStatus('garbage'), ParseError);
});

test('oom_score, oom_score_adj, meminfo', () => {
  assert.equal(parseOomScore('666\n'), 666);
  assert.equal(parseOomScoreAdj('-1000\n'), -1000);
  assert.throws(() => parseOomScoreAdj('1001'), ParseError);
  assert.throws(() => parseOomScore(''), ParseError);
  assert.deepEqual(parseMemTotals('MemTotal:       24684092 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n'), { memTotalKb: 24684092, swapTotalKb: 0, memAvailableKb: null, swapFreeKb: null });
  assert.throws(() => parseMemTotals('SwapTotal: 0 kB\n'), ParseError);
});
