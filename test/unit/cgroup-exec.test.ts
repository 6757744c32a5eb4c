import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemoryBackend } from '../../src/cgroup/backend.js';
import { resolveCommand, runInCgroup } from '../../src/cgroup/exec.js';
import { ancestors } from '../../src/cgroup/name.js';
import { CommandNotFoundError, OomwatchError } from '../../src/errors.js';

const top = mkdtempSync(join(tmpdir(), 'oomwatch-resolve-'));
after(() => rmSync(top, { recursive: true, force: true }));
const a = join(top, 'a');
const b = join(top, 'b');
mkdirSync(a);
mkdirSync(b);
writeFileSync(join(a, 'tool'), '#!/bin/sh\n');
chmodSync(join(a, 'tool'), 0o644); // found first, but not executable
writeFileSync(join(b, 'tool'), '#!/bin/sh\n');
chmodSync(join(b, 'tool'), 0o755);
writeFileSync(join(a, 'data'), 'x');
chmodSync(join(a, 'data'), 0o644);
mkdirSync(join(a, 'dir'));

const fails = (status: 126 | 127, text: RegExp) => (e: unknown) =>
  e instanceof CommandNotFoundError && e.code === 'ENOCOMMAND' && e.exitStatus === status && text.test(e.message);

test('resolveCommand: PATH is searched in order for an executable file, as execvp does', () => {
  assert.equal(resolveCommand('tool', `${a}:${b}`), join(b, 'tool'));
  assert.equal(resolveCommand(join(b, 'tool'), ''), join(b, 'tool'), 'a name with a slash is a path, PATH is not used');
});

test('resolveCommand: not found is 127 naming the command; found but not executable is 126', () => {
  assert.throws(() => resolveCommand('nosuchcmd', `${a}:${b}`), fails(127, /^cgroup exec: nosuchcmd: command not found$/));
  assert.throws(() => resolveCommand(join(top, 'nope'), `${a}:${b}`), fails(127, /: no such file$/));
  assert.throws(() => resolveCommand('data', `${a}:${b}`), fails(126, /data: permission denied/));
  assert.throws(() => resolveCommand(join(a, 'dir'), ''), fails(126, /not an executable file/));
  assert.throws(() => resolveCommand('', `${a}:${b}`), fails(127, /command not found/));
});

/**
 * A cgroup tree in memory with just what runInCgroup uses; moving a process in fails as the
 * kernel can refuse it, so the command never starts.
 */
function refusingBackend(existing: string[]): { backend: MemoryBackend; cgroups: Set<string>; removed: string[] } {
  const cgroups = new Set(existing);
  const removed: string[] = [];
  const backend = {
    version: 1,
    mount: '/fake',
    dir: (p: string) => `/fake${p}`,
    exists: (p: string) => cgroups.has(p),
    create: (p: string) => {
      const made = [...ancestors(p), p].filter((q) => !cgroups.has(q));
      for (const q of made) cgroups.add(q);
      return made;
    },
    writesFor: () => [],
    apply: () => undefined,
    stats: () => ({ events: { oom_kill: 0 } }),
    classify: (p: string, pid: number) => {
      throw new OomwatchError('EBUSY', `cannot move pid ${pid} into cgroup ${p}`);
    },
    remove: (p: string) => {
      cgroups.delete(p);
      removed.push(p);
    },
  } as unknown as MemoryBackend;
  return { backend, cgroups, removed };
}

test('runInCgroup: a command that cannot start in the cgroup leaves none of the cgroups made for it', async () => {
  const { backend, cgroups, removed } = refusingBackend(['/', '/a']);
  await assert.rejects(runInCgroup(backend, '/a/b/c', {}, ['true'], process.env['PATH'] ?? '/usr/bin:/bin'), (e: unknown) => e instanceof OomwatchError && e.code === 'EBUSY');
  assert.deepEqual(removed, ['/a/b/c', '/a/b'], 'bottom up, only what this run created');
  assert.deepEqual([...cgroups].sort(), ['/', '/a']);
});

test('runInCgroup: a cgroup that existed before the run stays', async () => {
  const { backend, cgroups, removed } = refusingBackend(['/', '/a', '/a/b']);
  await assert.rejects(runInCgroup(backend, '/a/b', {}, ['true'], process.env['PATH'] ?? '/usr/bin:/bin'), OomwatchError);
  assert.deepEqual(removed, []);
  assert.ok(cgroups.has('/a/b'));
});

test('runInCgroup: a command that is not found fails before any cgroup is created', async () => {
  const { backend, cgroups } = refusingBackend(['/']);
  await assert.rejects(runInCgroup(backend, '/new', {}, ['nosuchcmd-oomwatch'], `${a}:${b}`), (e: unknown) => e instanceof CommandNotFoundError && e.exitStatus === 127);
  assert.deepEqual([...cgroups], ['/']);
});
