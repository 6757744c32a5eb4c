import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { StateJournal, readState, serializeState, stateFile, type DaemonState } from '../../src/daemon/state.js';
import { KillLedger } from '../../src/daemon/ledger.js';
import { killEvent } from '../helpers/events.js';
import { ParseError } from '../../src/errors.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const BOOT = 'b1d7f0c2-1111-4222-8333-944455556666';
const cursor = (seq: number) => ({ bootId: BOOT, seq });
const state = (seq: number, counters: Record<string, number>): DaemonState => ({ cursor: cursor(seq), ledger: { counters, pending: [] } });

const kill = killEvent;

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-state-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (dir: string): Record<string, unknown>[] =>
  readFileSync(stateFile(dir), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

test('the first save writes the whole state, later ones only what changed; reading applies them in order', () =>
  withDir((dir) => {
    assert.equal(readState(dir), undefined);
    const ledger = new KillLedger(1000);
    for (let i = 0; i < 50; i++) ledger.onCounter(`/idle-${i}`, 0, 0);
    ledger.onCounter('/a', 1, 0);
    const j = new StateJournal(dir);
    j.save(cursor(1), ledger);
    ledger.onKill(kill(7, '/café'), 10);
    j.save(cursor(2), ledger);
    ledger.forget('/idle-3');
    ledger.onKill(kill(8, null), 20);
    j.save(cursor(3), ledger);
    j.close();
    const written = lines(dir);
    assert.equal(Object.keys(written[0]!['counters'] as object).length, 51, 'the first line is the whole state');
    assert.deepEqual(written[1]!['changed'], { '/café': null }, 'an unwatched cgroup is not in the state');
    assert.deepEqual(written[2]!['changed'], { '/idle-3': null });
    assert.deepEqual(readState(dir), { cursor: cursor(3), ledger: ledger.snapshot() });
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
  }));

test('a pending kill is journalled without the report\'s long account (stat block, candidates); its memory line and candidates_total stay', () =>
  withDir((dir) => {
    const ledger = new KillLedger(1000);
    const stat = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`total_stat_${i}`, 1_000_000 + i]));
    const candidates = Array.from({ length: 5 }, (_, i) => ({ pid: 100 + i, victim: i === 0, badness: 9000 - i }));
    const told = {
      ...kill(9, null),
      memory: { usage: 64 << 20, limit: 64 << 20, failcnt: 81, swap: null, memsw: null, kmem: null },
      memory_stat: stat,
      candidates,
      candidates_total: 12,
    } as unknown as OomKillEvent;
    ledger.onKill(told, 10);
    const j = new StateJournal(dir);
    j.save(cursor(1), ledger);
    ledger.onKill({ ...told, pid: 10, seq: 10 }, 20);
    j.save(cursor(2), ledger);
    j.close();
    const text = readFileSync(stateFile(dir), 'utf8');
    assert.ok(!text.includes('total_stat_') && !text.includes('"badness"'), text);
    const restored = readState(dir)?.ledger.pending ?? [];
    // The memory line is the limit that fired (the log line's cgroup_limit_bytes), kept for a restored kill.
    assert.deepEqual(restored.map((e) => [e.pid, e.memory?.limit, e.memory_stat, e.candidates, e.candidates_total]), [
      [9, 64 << 20, null, null, 12],
      [10, 64 << 20, null, null, 12],
    ]);
    assert.equal(told.candidates?.length, 5, 'the event in memory keeps its account for its log line');
  }));

test('a pending kill journalled before partial and possibly_child existed reads back with them, false, in contract order', () =>
  withDir((dir) => {
    const old: Record<string, unknown> = { ...kill(9, '/a') };
    delete old['partial'];
    delete old['possibly_child'];
    writeFileSync(stateFile(dir), `${JSON.stringify({ boot_id: BOOT, seq: 5, counters: { '/a': 1 }, pending: [old] })}\n`);
    const restored = readState(dir)?.ledger.pending ?? [];
    assert.deepEqual(restored, [kill(9, '/a')]);
    assert.deepEqual(Object.keys(restored[0] ?? {}), Object.keys(kill(9, '/a')));
  }));

test('a save cut short by a kill is passed over; the next run starts the journal afresh without it', () =>
  withDir((dir) => {
    const ledger = new KillLedger(1000);
    ledger.onCounter('/a', 7, 0);
    const j = new StateJournal(dir);
    j.save(cursor(7), ledger);
    j.close();
    // What a kill in the middle of the next append leaves: part of a line, no newline.
    appendFileSync(stateFile(dir), serializeState(state(8, { '/a': 8 })).slice(0, 30));
    assert.deepEqual(readState(dir), state(7, { '/a': 7 }));
    const next = new StateJournal(dir);
    next.save(cursor(9), ledger);
    ledger.onCounter('/a', 10, 0);
    next.save(cursor(10), ledger);
    next.close();
    assert.deepEqual(lines(dir).map((l) => l['seq']), [9, 10]);
    // 3 increments no kill line explains yet: the saved value stays below them until they are exported.
    assert.deepEqual(readState(dir), state(10, { '/a': 7 }));
    assert.deepEqual(readState(dir)?.ledger, ledger.snapshot());
  }));

test('a line that only misses its newline is complete; damage is an error naming the file', () =>
  withDir((dir) => {
    writeFileSync(stateFile(dir), serializeState(state(1, { '/a': 1 })) + serializeState(state(2, { '/a': 2 })).trimEnd());
    assert.deepEqual(readState(dir), state(2, { '/a': 2 }));
    writeFileSync(stateFile(dir), `${serializeState(state(1, {}))}{"boot_id": "${BOOT}", "seq": "x"}\n`);
    assert.throws(() => readState(dir), (err: unknown) => err instanceof ParseError && err.message.includes(stateFile(dir)));
    writeFileSync(stateFile(dir), `{"boot_id": "${BOOT}", "seq": 3, "changed": {"/a": 1}, "pending": []}\n`);
    assert.throws(() => readState(dir), /changes without the state/);
    writeFileSync(stateFile(dir), '\n\n');
    assert.throws(() => readState(dir), /no complete state/);
  }));

test('past its size limit the journal starts afresh with the whole state', () =>
  withDir((dir) => {
    const ledger = new KillLedger(1000);
    const j = new StateJournal(dir, 4096);
    for (let i = 0; i < 500; i++) {
      ledger.onCounter('/a', i, i);
      j.save(cursor(i), ledger);
    }
    j.close();
    assert.ok(statSync(stateFile(dir)).size <= 4096 + 200, 'the journal grew past its limit');
    assert.ok('counters' in lines(dir)[0]!, 'it starts with the whole state');
    assert.deepEqual(readState(dir), { cursor: cursor(499), ledger: ledger.snapshot() });
  }));

/**
 * Whatever the ledger goes through, what the journal holds after a save is what snapshot() says:
 * the changes lines miss nothing (a change the ledger did not report would leave a stale baseline,
 * and the next restart would count that cgroup's kills again or not at all).
 */
test('property: after every save, the journal reads back as the ledger snapshot', () => {
  const cg = fc.constantFrom('/a', '/b', '/kubepods/pod1');
  const op = fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('counter' as const), cg, up: fc.integer({ min: -1, max: 3 }) }), weight: 3 },
    fc.record({ t: fc.constant('kill' as const), cg: fc.option(cg, { nil: null }) }),
    fc.record({ t: fc.constant('repeat' as const), cg: fc.option(cg, { nil: null }) }),
    fc.record({ t: fc.constant('born' as const), cg }),
    fc.record({ t: fc.constant('forget' as const), cg }),
    fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 1500 }) }),
    { arbitrary: fc.record({ t: fc.constant('save' as const) }), weight: 3 },
    fc.record({ t: fc.constant('restart' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 10, maxLength: 120 }), fc.integer({ min: 500, max: 20000 }), (ops, compactBytes) => {
      withDir((dir) => {
        let ledger = new KillLedger(1000);
        let journal = new StateJournal(dir, compactBytes);
        const counters = new Map<string, number>();
        let now = 0;
        let seq = 0;
        let pid = 100;
        for (const o of ops) {
          now += 10;
          switch (o.t) {
            case 'counter': {
              const v = Math.max(0, (counters.get(o.cg) ?? 0) + o.up);
              counters.set(o.cg, v);
              ledger.onCounter(o.cg, v, now);
              break;
            }
            case 'kill':
              ledger.onKill(kill(pid++, o.cg), now);
              break;
            case 'repeat':
              ledger.onRepeatedKill(kill(pid++, o.cg), now);
              break;
            case 'born':
              ledger.born(o.cg);
              break;
            case 'forget':
              ledger.forget(o.cg);
              break;
            case 'tick':
              now += o.dt;
              ledger.tick(now);
              break;
            case 'save':
              journal.save(cursor(++seq), ledger);
              assert.deepEqual(readState(dir), { cursor: cursor(seq), ledger: ledger.snapshot() });
              break;
            case 'restart': {
              journal.close();
              const restored = readState(dir);
              ledger = new KillLedger(1000, restored?.ledger, now);
              journal = new StateJournal(dir, compactBytes);
              break;
            }
          }
        }
        journal.close();
      });
    }),
    { numRuns: 500 },
  );
});
