import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPACT_BYTES, StateJournal, readState, serializeState, stateFile, type DaemonState } from '../../src/daemon/state.js';
import { ParseError } from '../../src/errors.js';

const state = (seq: number, cgroup = '/a'): DaemonState => ({ cursor: { bootId: 'b1d7f0c2-1111-4222-8333-944455556666', seq }, ledger: { counters: { [cgroup]: seq }, pending: [] } });

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-state-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (dir: string): string[] => readFileSync(stateFile(dir), 'utf8').split('\n').filter((l) => l !== '');

test('each save appends the whole state; the last one is read back; nothing else is left in the directory', () =>
  withDir((dir) => {
    assert.equal(readState(dir), undefined);
    const j = new StateJournal(dir);
    j.save(state(1));
    j.save(state(2));
    j.save(state(3, '/café'));
    j.close();
    assert.deepEqual(readState(dir), state(3, '/café'));
    assert.equal(lines(dir).length, 3);
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
  }));

test('a save cut short by a kill is passed over; the next run starts the journal afresh without it', () =>
  withDir((dir) => {
    const j = new StateJournal(dir);
    j.save(state(7));
    j.close();
    // What a kill in the middle of the next append leaves: part of a line, no newline.
    appendFileSync(stateFile(dir), serializeState(state(8)).slice(0, 30));
    assert.deepEqual(readState(dir), state(7));
    const next = new StateJournal(dir);
    next.save(state(9));
    next.save(state(10));
    next.close();
    assert.deepEqual(lines(dir).map((l) => (JSON.parse(l) as { seq: number }).seq), [9, 10]);
    assert.deepEqual(readState(dir), state(10));
  }));

test('a state that only misses its newline is complete; a damaged complete line is an error naming the file', () =>
  withDir((dir) => {
    writeFileSync(stateFile(dir), serializeState(state(1)) + serializeState(state(2)).trimEnd());
    assert.deepEqual(readState(dir), state(2));
    writeFileSync(stateFile(dir), `${serializeState(state(1))}{"boot_id": "b1d7f0c2-1111-4222-8333-944455556666", "seq": "x"}\n`);
    assert.throws(() => readState(dir), (err: unknown) => err instanceof ParseError && err.message.includes(stateFile(dir)));
    writeFileSync(stateFile(dir), '\n\n');
    assert.throws(() => readState(dir), /no complete state/);
  }));

test('the journal is started afresh once it would pass its size limit', () =>
  withDir((dir) => {
    const j = new StateJournal(dir);
    const per = Buffer.byteLength(serializeState(state(100000)));
    const saves = Math.ceil(COMPACT_BYTES / per) + 10;
    for (let i = 100000; i < 100000 + saves; i++) j.save(state(i));
    j.close();
    assert.ok(statSync(stateFile(dir)).size <= COMPACT_BYTES, 'the journal grew past its limit');
    assert.ok(lines(dir).length < saves, 'the journal was never started afresh');
    assert.deepEqual(readState(dir), state(100000 + saves - 1));
  }));

test('a state.json of an earlier oomwatch is read, and replaced by the journal at the first save', () =>
  withDir((dir) => {
    writeFileSync(join(dir, 'state.json'), serializeState(state(5)));
    assert.deepEqual(readState(dir), state(5));
    const j = new StateJournal(dir);
    j.save(state(6));
    j.close();
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
    assert.deepEqual(readState(dir), state(6));
  }));
