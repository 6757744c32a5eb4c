import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, formatBytes } from '../../src/cgroup/size.js';
import { cgroupPath, ancestors } from '../../src/cgroup/name.js';
import { UsageError } from '../../src/errors.js';

test('sizes: binary suffixes, fractions, bytes and max', () => {
  assert.equal(parseSize('64M'), 64 * 2 ** 20);
  assert.equal(parseSize('64Mi'), 64 * 2 ** 20);
  assert.equal(parseSize('64MiB'), 64 * 2 ** 20);
  assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
  assert.equal(parseSize('512Ki'), 512 * 1024);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('1k'), 1024);
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('max'), 'max');
  assert.equal(parseSize('1.0000001K'), 1024);
});

test('sizes: garbage is a usage error naming the flag', () => {
  for (const bad of ['', '-1', '12Q', 'M', '1.5.5G', '64 i', '0x10', '1e3', '64i']) {
    assert.throws(() => parseSize(bad, '--memory'), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message.startsWith('--memory'), bad);
  }
  assert.throws(() => parseSize('99999999P'), UsageError);
});

test('formatBytes', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(64 * 2 ** 20), '64.0 MiB');
  assert.equal(formatBytes(null), '-');
});

test('cgroup names: relative paths, one leading slash, --parent', () => {
  assert.equal(cgroupPath('batch/worker-1'), '/batch/worker-1');
  assert.equal(cgroupPath('/batch/worker-1'), '/batch/worker-1');
  assert.equal(cgroupPath('batch/worker-1/'), '/batch/worker-1');
  assert.equal(cgroupPath('w1', { parent: '/system.slice/oomwatch.service' }), '/system.slice/oomwatch.service/w1');
  assert.equal(cgroupPath('/', { allowRoot: true }), '/');
  assert.equal(cgroupPath('kubepods.slice/kubepods-pod1.slice'), '/kubepods.slice/kubepods-pod1.slice');
});

test('cgroup names that escape the hierarchy or name a control file are refused with exit 2', () => {
  const bad = ['..', '../etc', 'a/../../b', 'a/./b', 'a//b', '//etc', '', '/', 'a/memory.limit_in_bytes', 'cgroup.procs', 'x/tasks', 'release_agent', 'a\0b', 'a\nb', 'memory.max'];
  for (const name of bad) {
    assert.throws(() => cgroupPath(name), (e: unknown) => e instanceof UsageError && e.exitCode === 2, JSON.stringify(name));
  }
  assert.throws(() => cgroupPath('x', { parent: '../..' }), UsageError);
});

test('ancestors', () => {
  assert.deepEqual(ancestors('/a/b/c'), ['/a', '/a/b']);
  assert.deepEqual(ancestors('/a'), []);
});
