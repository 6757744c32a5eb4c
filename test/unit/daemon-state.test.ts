import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, saveState, stateFile, type DaemonState } from '../../src/daemon/state.js';

const state = (seq: number): DaemonState => ({ cursor: { bootId: 'b1d7f0c2-1111-4222-8333-944455556666', seq }, ledger: { counters: { '/a': seq }, pending: [] } });

test('saveState replaces the state and leaves only state.json behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-state-'));
  try {
    assert.equal(readState(dir), undefined);
    saveState(dir, state(1));
    saveState(dir, state(2));
    assert.deepEqual(readState(dir), state(2));
    assert.deepEqual(readdirSync(dir), ['state.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stop between the unlink and the rename leaves the new state, which readState takes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-state-'));
  try {
    saveState(dir, state(7));
    // What the disk holds right after saveState's unlink: only the complete next file.
    renameSync(stateFile(dir), `${stateFile(dir)}.next`);
    assert.deepEqual(readState(dir), state(7));
    saveState(dir, state(8));
    assert.deepEqual(readState(dir), state(8));
    assert.equal(existsSync(`${stateFile(dir)}.next`), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
