import { test } from 'node:test';
import assert from 'node:assert/strict';
import { v1Writes, v2Writes } from '../../src/cgroup/limits.js';
import { NotSupportedError } from '../../src/errors.js';

const M = 2 ** 20;
const unlimited = { limit: null, memswLimit: null };

test('v2: each knob to its own file, max stays max', () => {
  assert.deepEqual(v2Writes({ memory: 64 * M, memoryHigh: 48 * M, memoryLow: 'max', swap: 0, oomGroup: true }), [
    { file: 'memory.max', value: String(64 * M) },
    { file: 'memory.high', value: String(48 * M) },
    { file: 'memory.low', value: 'max' },
    { file: 'memory.swap.max', value: '0' },
    { file: 'memory.oom.group', value: '1' },
  ]);
  assert.deepEqual(v2Writes({ memory: 'max', oomGroup: false }), [
    { file: 'memory.max', value: 'max' },
    { file: 'memory.oom.group', value: '0' },
  ]);
  assert.deepEqual(v2Writes({}), []);
});

test('v2: --no-oom-kill is not supported (exit 2), never a silent no-op', () => {
  assert.throws(() => v2Writes({ oomKill: false }), (e: unknown) => e instanceof NotSupportedError && e.exitCode === 2);
});

test('v1: memory, soft limit, oom_control; unlimited is -1', () => {
  assert.deepEqual(v1Writes({ memory: 64 * M, memoryLow: 32 * M, oomKill: false }, unlimited), [
    { file: 'memory.limit_in_bytes', value: String(64 * M) },
    { file: 'memory.soft_limit_in_bytes', value: String(32 * M) },
    { file: 'memory.oom_control', value: '1' },
  ]);
  assert.deepEqual(v1Writes({ memory: 'max', memoryLow: 'max' }, { limit: 64 * M, memswLimit: null }), [
    { file: 'memory.limit_in_bytes', value: '-1' },
    { file: 'memory.soft_limit_in_bytes', value: '-1' },
  ]);
});

test('v1: v2-only knobs are not supported (exit 2)', () => {
  assert.throws(() => v1Writes({ memoryHigh: M }, unlimited), NotSupportedError);
  assert.throws(() => v1Writes({ oomGroup: true }, unlimited), NotSupportedError);
});

test('v1: swap is memory + swap in memsw; lowering writes the limit first', () => {
  // From unlimited: memsw is unlimited, so the limit can go first.
  assert.deepEqual(v1Writes({ memory: 64 * M, swap: 16 * M }, unlimited), [
    { file: 'memory.limit_in_bytes', value: String(64 * M) },
    { file: 'memory.memsw.limit_in_bytes', value: String(80 * M) },
  ]);
  // Lowering both: limit first, or memsw would drop below the current limit.
  assert.deepEqual(v1Writes({ memory: 32 * M, swap: 0 }, { limit: 64 * M, memswLimit: 80 * M }), [
    { file: 'memory.limit_in_bytes', value: String(32 * M) },
    { file: 'memory.memsw.limit_in_bytes', value: String(32 * M) },
  ]);
});

test('v1: raising the limit above the current memsw writes memsw first', () => {
  assert.deepEqual(v1Writes({ memory: 256 * M, swap: 0 }, { limit: 64 * M, memswLimit: 80 * M }), [
    { file: 'memory.memsw.limit_in_bytes', value: String(256 * M) },
    { file: 'memory.limit_in_bytes', value: String(256 * M) },
  ]);
});

test('v1: changing only --memory keeps the swap allowance', () => {
  assert.deepEqual(v1Writes({ memory: 128 * M }, { limit: 32 * M, memswLimit: 48 * M }), [
    { file: 'memory.memsw.limit_in_bytes', value: String(144 * M) },
    { file: 'memory.limit_in_bytes', value: String(128 * M) },
  ]);
  assert.deepEqual(v1Writes({ memory: 16 * M }, { limit: 32 * M, memswLimit: 48 * M }), [
    { file: 'memory.limit_in_bytes', value: String(16 * M) },
    { file: 'memory.memsw.limit_in_bytes', value: String(32 * M) },
  ]);
  // memsw unlimited: nothing to keep, only the limit is written.
  assert.deepEqual(v1Writes({ memory: 16 * M }, unlimited), [{ file: 'memory.limit_in_bytes', value: String(16 * M) }]);
});

test('v1: --swap alone adds to the current limit', () => {
  assert.deepEqual(v1Writes({ swap: 8 * M }, { limit: 32 * M, memswLimit: null }), [
    { file: 'memory.memsw.limit_in_bytes', value: String(40 * M) },
  ]);
  assert.deepEqual(v1Writes({ swap: 'max' }, { limit: 32 * M, memswLimit: 40 * M }), [
    { file: 'memory.memsw.limit_in_bytes', value: '-1' },
  ]);
});

test('v1: swap without a memory limit, or without swap accounting, is a clear error', () => {
  assert.throws(() => v1Writes({ swap: M }, unlimited), /give --memory too/);
  assert.throws(() => v1Writes({ memory: M, swap: M }, { limit: null, memswLimit: undefined }), /swap accounting is off/);
});
