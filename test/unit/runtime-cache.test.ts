import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdentityCache, MalformedFiles } from '../../src/runtime/cache.js';
import { emptyIdentity, type ContainerIdentity } from '../../src/runtime/identity.js';

const ident = (pod: string): ContainerIdentity => ({ ...emptyIdentity('containerd'), pod });

function cache(retentionMs: number, maxEntries: number): { c: IdentityCache; clock: { t: number } } {
  const clock = { t: 1000 };
  return { c: new IdentityCache({ retentionMs, maxEntries, now: () => clock.t }), clock };
}

test('a live identity never expires; a gone one is kept for retentionMs, then dropped', () => {
  const { c, clock } = cache(5000, 10);
  c.set('a', ident('pa'));
  c.set('b', ident('pb'));
  clock.t += 1_000_000;
  assert.equal(c.get('a')?.pod, 'pa', 'live: no expiry however long');
  c.gone('a');
  clock.t += 4999;
  assert.equal(c.get('a')?.pod, 'pa', 'retained just before the end of retention');
  clock.t += 1;
  assert.equal(c.get('a'), undefined, 'dropped at retentionMs');
  assert.equal(c.get('b')?.pod, 'pb');
  assert.equal(c.size, 1);
});

test('gone twice keeps the first time; set again revives a gone identity', () => {
  const { c, clock } = cache(100, 10);
  c.set('a', ident('pa'));
  c.gone('a');
  clock.t += 60;
  c.gone('a');
  clock.t += 40;
  assert.equal(c.get('a'), undefined, 'retention counts from the first gone');
  c.set('b', ident('pb'));
  c.gone('b');
  clock.t += 50;
  c.set('b', ident('pb2'));
  clock.t += 1000;
  assert.equal(c.get('b')?.pod, 'pb2', 'a re-appearing cgroup is live again');
  c.gone('unknown');
  assert.equal(c.size, 1);
});

test('sweep drops every expired identity, in the order they went', () => {
  const { c, clock } = cache(100, 10);
  for (const id of ['a', 'b', 'c']) c.set(id, ident(id));
  c.gone('a');
  clock.t += 50;
  c.gone('b');
  clock.t += 50;
  c.sweep();
  assert.equal(c.size, 2, 'a expired, b still within retention');
  clock.t += 50;
  c.sweep();
  assert.equal(c.size, 1);
  assert.equal(c.get('c')?.pod, 'c');
});

test('bounded: a gone identity makes room before a live one, else the oldest', () => {
  const { c } = cache(1_000_000, 2);
  c.set('a', ident('a'));
  c.set('b', ident('b'));
  c.gone('b');
  c.set('c', ident('c'));
  assert.equal(c.size, 2);
  assert.equal(c.get('b'), undefined, 'the gone one went first');
  assert.equal(c.get('a')?.pod, 'a');
  c.set('d', ident('d'));
  assert.equal(c.get('a'), undefined, 'then the oldest live one');
  assert.deepEqual([c.get('c')?.pod, c.get('d')?.pod], ['c', 'd']);
});

test('options are checked', () => {
  assert.throws(() => new IdentityCache({ retentionMs: -1, maxEntries: 1, now: () => 0 }), RangeError);
  assert.throws(() => new IdentityCache({ retentionMs: 1, maxEntries: 0, now: () => 0 }), RangeError);
});

test('malformed files: each logged once, every read counted, the set bounded', () => {
  const m = new MalformedFiles(2);
  assert.equal(m.note('/x'), true);
  assert.equal(m.note('/x'), false);
  assert.equal(m.note('/y'), true);
  assert.equal(m.note('/z'), true);
  assert.equal(m.note('/x'), true, 'the oldest file was forgotten to keep the set bounded');
  assert.equal(m.total, 5);
});
