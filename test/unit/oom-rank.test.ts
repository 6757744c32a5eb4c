import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badnessKb, rankCandidates } from '../../src/oom/rank.js';
import type { Candidate } from '../../src/proc/candidates.js';
import { parseProcStatus } from '../../src/proc/status.js';
import { parseOomScore, parseOomScoreAdj } from '../../src/proc/oomScore.js';
import { parseMemTotals } from '../../src/proc/meminfo.js';
import { ParseError } from '../../src/errors.js';

const cand = (pid: number, rss: number, adj = 0, extra: Partial<Candidate> = {}): Candidate => ({
  pid, process: `p${pid}`, uid: 0, oom_score: 0, oom_score_adj: adj, rss_kb: rss, rss_anon_kb: null, rss_file_kb: null,
  rss_shmem_kb: null, swap_kb: 0, pgtables_kb: 0, cgroup: '/x', ...extra,
});

test('badness: rss + swap + page tables, shifted by oom_score_adj thousandths of the memory at stake', () => {
  assert.equal(badnessKb(cand(5, 1000, 0, { swap_kb: 200, pgtables_kb: 30 }), 1_000_000), 1230);
  assert.equal(badnessKb(cand(5, 1000, 500), 1_000_000), 1000 + 500 * 1000);
  assert.equal(badnessKb(cand(5, 1000, -1000), 1_000_000), null);
  assert.equal(badnessKb(cand(1, 1000), 1_000_000), null, 'global init is never chosen');
});

test('ranking: highest badness first; adj can outweigh size; never-chosen last', () => {
  const ranked = rankCandidates([cand(10, 5000), cand(11, 100, 300), cand(12, 90_000, -1000), cand(13, 7000), cand(1, 50_000)], 65_536);
  assert.deepEqual(ranked.map((r) => [r.pid, r.rank]), [[11, 1], [13, 2], [10, 3], [1, null], [12, null]]);
  assert.equal(ranked[0]?.badness_kb, 100 + 300 * 65);
});

test('ties are broken by the kernel oom_score, then pid', () => {
  const ranked = rankCandidates([cand(30, 10, 0, { oom_score: 1 }), cand(20, 10, 0, { oom_score: 2 }), cand(10, 10, 0, { oom_score: 1 })], 1000);
  assert.deepEqual(ranked.map((r) => r.pid), [20, 10, 30]);
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
  assert.deepEqual(parseMemTotals('MemTotal:       24684092 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n'), { memTotalKb: 24684092, swapTotalKb: 0 });
  assert.throws(() => parseMemTotals('SwapTotal: 0 kB\n'), ParseError);
});
