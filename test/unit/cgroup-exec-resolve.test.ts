import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCommand } from '../../src/cgroup/exec.js';
import { CommandNotFoundError } from '../../src/errors.js';

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
