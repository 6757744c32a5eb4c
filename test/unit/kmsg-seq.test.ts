import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeqTracker, type SeqEvent } from '../../src/kmsg/seq.js';

/** Feed a script of seqs, 'EPIPE' and '?' (a malformed record) and collect the events. */
function run(tracker: SeqTracker, script: (number | 'EPIPE' | '?')[]): SeqEvent[] {
  const out: SeqEvent[] = [];
  for (const s of script) {
    if (s === 'EPIPE') tracker.overrun();
    else if (s === '?') tracker.unknown();
    else {
      const ev = tracker.observe(s);
      if (ev !== undefined) out.push(ev);
    }
  }
  return out;
}

test('consecutive seqs lose nothing; the first record sets the expectation when reading from the start', () => {
  const t = new SeqTracker();
  assert.deepEqual(run(t, [500, 501, 502, 503]), []);
  assert.equal(t.expectedSeq, 504);
  assert.equal(t.counts().lost, 0);
});

test('a gap without EPIPE counts the missing records as lostGap', () => {
  const t = new SeqTracker();
  const evs = run(t, [10, 11, 15, 16, 20]);
  assert.deepEqual(evs, [
    { kind: 'lost', reason: 'gap', count: 3, fromSeq: 12, nextSeq: 15 },
    { kind: 'lost', reason: 'gap', count: 3, fromSeq: 17, nextSeq: 20 },
  ]);
  assert.deepEqual(t.counts(), { lost: 6, lostOverrun: 0, lostGap: 6, lostBeforeStart: 0, overruns: 0, rewinds: 0 });
});

test('after EPIPE the gap to the oldest surviving record is the overrun loss', () => {
  const t = new SeqTracker();
  const evs = run(t, [1, 2, 3, 'EPIPE', 900, 901]);
  assert.deepEqual(evs, [{ kind: 'lost', reason: 'overrun', count: 896, fromSeq: 4, nextSeq: 900 }]);
  const c = t.counts();
  assert.equal(c.overruns, 1);
  assert.equal(c.lostOverrun, 896);
  assert.equal(c.lost, 896);
  // The EPIPE applies to the next gap only: a later gap is an ordinary one.
  assert.deepEqual(run(t, [905]), [{ kind: 'lost', reason: 'gap', count: 3, fromSeq: 902, nextSeq: 905 }]);
});

test('an EPIPE with no visible gap is still reported as an overrun of 0 records', () => {
  const t = new SeqTracker();
  assert.deepEqual(run(t, ['EPIPE', 7]), [{ kind: 'lost', reason: 'overrun', count: 0, fromSeq: 7, nextSeq: 7 }]);
  assert.equal(t.counts().overruns, 1);
  assert.equal(t.counts().lost, 0);
});

test('resuming from a cursor: a hole before the first record was lost while no reader ran', () => {
  const t = new SeqTracker(101, true); // cursor.seq = 100
  assert.deepEqual(run(t, [309, 310, 312]), [
    { kind: 'lost', reason: 'before-start', count: 208, fromSeq: 101, nextSeq: 309 },
    { kind: 'lost', reason: 'gap', count: 1, fromSeq: 311, nextSeq: 312 },
  ]);
  assert.deepEqual(t.counts(), { lost: 209, lostOverrun: 0, lostGap: 1, lostBeforeStart: 208, overruns: 0, rewinds: 0 });
});

test('resuming from a cursor exactly at the next record loses nothing', () => {
  const t = new SeqTracker(101, true);
  assert.deepEqual(run(t, [101, 102]), []);
  assert.equal(t.counts().lost, 0);
});

test('a malformed record takes its place in the sequence and is not counted as lost', () => {
  const t = new SeqTracker();
  assert.deepEqual(run(t, [40, '?', 42, '?', '?', 45]), []);
  assert.equal(t.counts().lost, 0);
  assert.deepEqual(run(t, ['?', 48]), [{ kind: 'lost', reason: 'gap', count: 1, fromSeq: 47, nextSeq: 48 }]);
});

test('SEQ going backwards is a rewind: counted, and accounting follows the kernel again', () => {
  const t = new SeqTracker(50);
  assert.deepEqual(run(t, [50, 51, 20, 21, 23]), [
    { kind: 'rewind', expectedSeq: 52, seq: 20 },
    { kind: 'lost', reason: 'gap', count: 1, fromSeq: 22, nextSeq: 23 },
  ]);
  assert.equal(t.counts().rewinds, 1);
  assert.equal(t.counts().lost, 1);
});

test('invariant: records seen + lost = span of SEQ, for random sequences with holes and overruns', () => {
  // A tiny deterministic PRNG: the property must hold for any script, so a fixed one is honest.
  let x = 12345;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  for (let round = 0; round < 200; round++) {
    const start = rnd(1000);
    const t = new SeqTracker(start, rnd(2) === 0);
    let seq = start - 1;
    let seen = 0;
    for (let i = 0; i < 50; i++) {
      const hole = rnd(4) === 0 ? rnd(30) : 0;
      if (hole > 0 && rnd(2) === 0) t.overrun();
      seq += 1 + hole;
      t.observe(seq);
      seen += 1;
    }
    const c = t.counts();
    assert.equal(seen + c.lost, seq - start + 1);
    assert.equal(c.lost, c.lostGap + c.lostOverrun + c.lostBeforeStart);
  }
});
