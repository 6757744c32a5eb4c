import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KillLedger, type LedgerOutput } from '../../src/daemon/ledger.js';
import { killEvent } from '../helpers/events.js';

const kill = killEvent;
const kills = (out: LedgerOutput[]) => out.flatMap((o) => (o.kind === 'kill' ? [[o.event.pid, o.event.victim_cgroup, o.attributedBy]] : []));
const unexplained = (out: LedgerOutput[]) => out.flatMap((o) => (o.kind === 'unexplained' ? [[o.cgroup, o.count]] : []));

test('a kill with a cgroup is exported at once and matched by the counter: nothing more', () => {
  const l = new KillLedger(1000);
  assert.deepEqual(l.onCounter('/a', 0, 0), []);
  assert.deepEqual(kills(l.onKill(kill(1, '/a'), 10)), [[1, '/a', 'kmsg']]);
  assert.deepEqual(l.onCounter('/a', 1, 100), []);
  assert.deepEqual(l.tick(5000), []);
});

test('the counter may move before the kill line is read: no double count', () => {
  const l = new KillLedger(1000);
  l.onCounter('/a', 0, 0);
  assert.deepEqual(l.onCounter('/a', 1, 100), []);
  assert.deepEqual(kills(l.onKill(kill(1, '/a'), 105)), [[1, '/a', 'kmsg']]);
  assert.deepEqual(l.tick(5000), []);
});

test('a storm: 30 counted by the kernel, 10 kill lines with a cgroup, 20 header-less -> 30 for the cgroup', () => {
  const l = new KillLedger(1000);
  l.onCounter('/storm', 0, 0);
  const out: LedgerOutput[] = [];
  for (let i = 0; i < 30; i++) out.push(...l.onKill(kill(100 + i, i % 3 === 0 && i < 30 ? '/storm' : null), 10));
  assert.equal(kills(out).length, 10);
  out.push(...l.onCounter('/storm', 30, 500));
  out.push(...l.tick(5000));
  const ks = kills(out);
  assert.equal(ks.length, 30);
  assert.ok(ks.every(([, cg]) => cg === '/storm'));
  assert.equal(ks.filter(([, , by]) => by === 'counter').length, 20);
  assert.deepEqual(unexplained(out), []);
});

test('a counter increment no kill line explains becomes unexplained only after the grace period', () => {
  const l = new KillLedger(1000);
  l.onCounter('/a', 5, 0);
  assert.deepEqual(l.onCounter('/a', 7, 100), []);
  assert.deepEqual(l.tick(900), []);
  assert.deepEqual(unexplained(l.tick(1100)), [['/a', 2]]);
  assert.deepEqual(l.tick(9000), []);
});

test('a header-less kill no counter claims is exported without a cgroup after the grace period', () => {
  const l = new KillLedger(1000);
  assert.deepEqual(l.onKill(kill(9, null), 0), []);
  assert.deepEqual(l.tick(999), []);
  assert.deepEqual(kills(l.tick(1000)), [[9, null, 'none']]);
});

test('kills in an unwatched cgroup leave credits that expire silently', () => {
  const l = new KillLedger(1000);
  assert.equal(kills(l.onKill(kill(1, '/unwatched'), 0)).length, 1);
  assert.deepEqual(l.tick(2000), []);
});

test('first sample: the baseline is the value, earlier credits are inside it', () => {
  const l = new KillLedger(1000);
  l.onKill(kill(1, '/a'), 0);
  assert.deepEqual(l.onCounter('/a', 1, 10), []);
  assert.deepEqual(l.onCounter('/a', 2, 20), []); // a new increment, not matched by the old credit
  assert.deepEqual(unexplained(l.tick(5000)), [['/a', 1]]);
});

test('a cgroup born while watched starts from 0: a kill before its first sample is accounted', () => {
  const l = new KillLedger(1000);
  l.born('/new');
  assert.deepEqual(l.onCounter('/new', 1, 10), []);
  assert.deepEqual(unexplained(l.tick(5000)), [['/new', 1]]);
  const m = new KillLedger(1000);
  m.born('/new');
  m.onKill(kill(3, '/new'), 5);
  assert.deepEqual(m.onCounter('/new', 1, 10), []);
  assert.deepEqual(m.tick(5000), []);
});

test('restart: saved baselines make kills during the downtime count, replayed lines match them', () => {
  const before = new KillLedger(1000);
  before.onCounter('/a', 3, 0);
  before.onKill(kill(1, null), 10); // header-less, waiting for a counter
  const snap = before.snapshot();
  assert.deepEqual(snap.counters, { '/a': 3 });
  assert.equal(snap.pending.length, 1);
  const after = new KillLedger(1000, snap, 100);
  // While down: 2 kills in /a, one of them replayed from the kernel log with its cgroup.
  const out = [...after.onKill(kill(2, '/a'), 150), ...after.onCounter('/a', 6, 200), ...after.tick(5000)];
  // The pending header-less kill is claimed by the counter; the third increment is unexplained.
  assert.deepEqual(kills(out), [[2, '/a', 'kmsg'], [1, '/a', 'counter']]);
  assert.deepEqual(unexplained(out), [['/a', 1]]);
});

test('a save before a restored cgroup was sampled again keeps its baseline: its downtime kills still count', () => {
  const first = new KillLedger(1000);
  first.onCounter('/a', 3, 0);
  first.onCounter('/b', 5, 0);
  // Restarted; a save comes before the first sweep reached /b (or before discovery found it).
  const second = new KillLedger(1000, first.snapshot(), 100);
  second.onCounter('/a', 3, 150);
  const saved = second.snapshot();
  assert.deepEqual(saved.counters, { '/a': 3, '/b': 5 });
  // Restarted again: /b had 2 kills while the daemon was down, never seen by the second run.
  const third = new KillLedger(1000, saved, 200);
  const out = [...third.onCounter('/b', 7, 250), ...third.tick(5000)];
  assert.deepEqual(unexplained(out), [['/b', 2]]);
});

test('a counter that goes down is a new cgroup under the old name', () => {
  const l = new KillLedger(1000);
  l.onCounter('/a', 5, 0);
  assert.deepEqual(l.onCounter('/a', 0, 10), []);
  assert.deepEqual(l.onCounter('/a', 1, 20), []);
  assert.deepEqual(unexplained(l.tick(5000)), [['/a', 1]]);
});

test('forget exports pending deficits of a vanished cgroup', () => {
  const l = new KillLedger(1000);
  l.onCounter('/gone', 0, 0);
  l.onCounter('/gone', 2, 10);
  assert.deepEqual(unexplained(l.forget('/gone')), [['/gone', 2]]);
  assert.deepEqual(l.tick(5000), []);
});

test('a header-less kill read after the counter rose is claimed by that counter', () => {
  const l = new KillLedger(1000);
  l.onCounter('/a', 0, 0);
  l.onCounter('/b', 0, 0);
  assert.deepEqual(l.onCounter('/b', 1, 100), []);
  assert.deepEqual(l.onCounter('/a', 1, 200), []);
  assert.deepEqual(kills(l.onKill(kill(7, null), 210)), [[7, '/b', 'counter']]);
  assert.deepEqual(kills(l.onKill(kill(8, null), 220)), [[8, '/a', 'counter']]);
  assert.deepEqual(l.tick(5000), []);
});

test('a group kill of 3: the kernel counts 4 (the first victim\'s line twice); the repeated line explains the 4th', () => {
  // As the real v2 capture test/fixtures/oom/v2-real/group-kill.kmsg: the first victim with its
  // cgroup (the summary names it), two members without, then the first victim's line again.
  const l = new KillLedger(1000);
  l.onCounter('/g', 0, 0);
  const first = { ...kill(9, '/g'), group_kill: true };
  const out: LedgerOutput[] = [];
  out.push(...l.onKill(first, 10));
  out.push(...l.onKill({ ...kill(7, null), group_kill: true }, 10));
  out.push(...l.onRepeatedKill(first, 11));
  out.push(...l.onKill({ ...kill(8, null), group_kill: true }, 11));
  out.push(...l.onCounter('/g', 4, 200));
  out.push(...l.tick(5000));
  assert.deepEqual(kills(out), [[9, '/g', 'kmsg'], [7, '/g', 'counter'], [8, '/g', 'counter']]);
  assert.deepEqual(unexplained(out), []);
});

test('the same group kill without the repeated line accounted: one kill too many (what onRepeatedKill prevents)', () => {
  const l = new KillLedger(1000);
  l.onCounter('/g', 0, 0);
  const out: LedgerOutput[] = [];
  out.push(...l.onKill({ ...kill(9, '/g'), group_kill: true }, 10));
  out.push(...l.onKill({ ...kill(7, null), group_kill: true }, 10));
  out.push(...l.onKill({ ...kill(8, null), group_kill: true }, 11));
  out.push(...l.onCounter('/g', 4, 200));
  out.push(...l.tick(5000));
  assert.deepEqual(unexplained(out), [['/g', 1]]);
});

test('a repeated kill line of an unknown cgroup consumes one counter increment and exports nothing', () => {
  const l = new KillLedger(1000);
  l.onCounter('/g', 0, 0);
  const out: LedgerOutput[] = [];
  out.push(...l.onKill(kill(9, null), 10));
  out.push(...l.onRepeatedKill(kill(9, null), 11));
  assert.deepEqual(l.snapshot().pending.map((e) => e.pid), [9], 'the repeat is no pending kill');
  out.push(...l.onCounter('/g', 2, 200));
  out.push(...l.tick(5000));
  assert.deepEqual(kills(out), [[9, '/g', 'counter']]);
  assert.deepEqual(unexplained(out), []);
  // Unclaimed, it expires without a trace.
  const l2 = new KillLedger(1000);
  assert.deepEqual(l2.onRepeatedKill(kill(5, null), 0), []);
  assert.deepEqual(l2.tick(5000), []);
});
