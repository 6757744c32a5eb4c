import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, formatBytes, formatKb } from '../../src/cgroup/size.js';
import { cgroupPath, ancestors } from '../../src/cgroup/name.js';
import { UsageError } from '../../src/errors.js';
import { tableRow } from '../../src/cli/killOutput.js';
import { killEvent } from '../helpers/events.js';

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

test('formatBytes: one decimal and the suffixes --memory takes, so a printed size can be typed back', () => {
  assert.equal(formatBytes(0), '0B');
  assert.equal(formatBytes(512), '512B');
  assert.equal(formatBytes(1024), '1.0K');
  assert.equal(formatBytes(64 * 2 ** 20), '64.0M');
  assert.equal(formatBytes(1.5 * 2 ** 30), '1.5G');
  assert.equal(formatBytes(3 * 2 ** 40), '3.0T');
  assert.equal(formatBytes(2 ** 20 - 1), '1.0M', 'rounds before it picks the unit: never 1024.0K');
  assert.equal(formatBytes(null), '-');
  assert.equal(formatBytes(Infinity), 'max');
  for (const n of [1024, 64 * 2 ** 20, 1.5 * 2 ** 30]) assert.equal(parseSize(formatBytes(n)), n);
});

test('the kill table of parse and tail shows RSS in the same format', () => {
  const row = (kb: number) => tableRow({ ...killEvent(7, '/a'), anon_rss_kb: kb, file_rss_kb: 0, shmem_rss_kb: 0 });
  assert.match(row(512), / 512\.0K  /);
  assert.match(row(66_960), / 65\.4M  /);
});

test('formatKb: /proc kB counts in the same format', () => {
  assert.equal(formatKb(0), '0B');
  assert.equal(formatKb(512), '512.0K');
  assert.equal(formatKb(65536), '64.0M');
  assert.equal(formatKb(1572864), '1.5G');
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

test('cgroup names: a component over NAME_MAX (255) bytes is refused, counted in UTF-8 bytes, not characters', () => {
  assert.equal(cgroupPath('a'.repeat(255)), `/${'a'.repeat(255)}`);
  assert.equal(cgroupPath(`batch/${'é'.repeat(127)}`), `/batch/${'é'.repeat(127)}`, '254 bytes');
  const long = 'é'.repeat(128); // 128 characters, 256 bytes
  for (const [name, opts] of [[`batch/${long}/x`, {}], [long, {}], ['x', { parent: `/${long}` }]] as const) {
    assert.throws(
      () => cgroupPath(name, opts),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message.includes(`"${long}" is 256 bytes`) && e.message.includes('at most 255 bytes'),
      name,
    );
  }
});

test('ancestors', () => {
  assert.deepEqual(ancestors('/a/b/c'), ['/a', '/a/b']);
  assert.deepEqual(ancestors('/a'), []);
});
