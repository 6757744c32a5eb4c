import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guest, oomwatch } from '../guest.js';

test('oomwatch mode --json reports a pure cgroup v2 host with memory at /sys/fs/cgroup', guest(), () => {
  const r = oomwatch(['mode', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { mode: string; memory: { version: number; mount: string } | null };
  assert.equal(out.mode, 'v2');
  assert.deepEqual(out.memory && { version: out.memory.version, mount: out.memory.mount }, {
    version: 2,
    mount: '/sys/fs/cgroup',
  });
});
