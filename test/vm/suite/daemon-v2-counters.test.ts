/**
 * `oomwatch daemon --no-kmsg` on the real cgroup v2 kernel in the VM: with no kernel log, an OOM
 * kill is still counted, from the cgroup's memory.events.local, as an unexplained kill of that
 * cgroup; a group kill of 3 processes counts 3, although the kernel's oom_kill says 4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, sumMetric as sum, tempDir, type Sample } from '../../helpers/daemon.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CGROUP2, HOG, cgKeyed, exited, guest, killAll, removeTree, spawnIn, spawnSleeper } from '../guest.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('oomwatch daemon --no-kmsg on cgroup v2: a kill counted from memory.events as unexplained', guest(), async () => {
  const state = tempDir('d2c');
  const d = await startDaemon({
    stateDir: state.dir,
    startTimeoutMs: 90_000,
    args: ['--no-kmsg'],
    config: ['watch: {include: ["/d2c-*"]}', 'cgroups:', '  - {name: d2c-decl, memory: 32M}', '  - {name: d2c-group, memory: 32M, oom_group: true}', ''].join('\n'),
  });
  try {
    assert.equal(await d.metric('oomwatch_kmsg_up'), 0);
    await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: '/d2c-decl' }, (v) => v !== undefined, 30_000);
    let s: Sample[] = await d.samples();
    assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2c-decl' }), 0);
    const hog = spawnIn('d2c-decl', HOG);
    assert.equal((await exited(hog)).signal, 'SIGKILL');
    const line = await d.waitForLog((l) => l.event === 'oom_kill_unexplained' && l['cgroup'] === '/d2c-decl', 30_000, 'the unexplained kill');
    assert.equal(line['count'], 1);
    s = await d.samples();
    assert.equal(sum(s, 'oomwatch_unexplained_oom_kills_total', { cgroup: '/d2c-decl' }), 1);
    assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2c-decl' }), 1);
    assert.equal(sum(s, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2c-decl', event: 'oom_kill' }), 1);
    assert.ok(!d.logs.some((l) => l.event === 'oom_kill'), 'no kill line without the kernel log');

    // A group kill: 3 processes, the kernel's own counter says 4 (the first victim twice).
    const sleepers = [spawnSleeper(), spawnSleeper()];
    try {
      for (const p of sleepers) writeFileSync(join(CGROUP2, 'd2c-group', 'cgroup.procs'), String(p.pid));
      const groupHog = spawnIn('d2c-group', HOG);
      assert.equal((await exited(groupHog)).signal, 'SIGKILL');
      for (const p of sleepers) assert.equal((await exited(p)).signal, 'SIGKILL');
    } finally {
      killAll(sleepers);
    }
    const local = cgKeyed('d2c-group', 'memory.events.local');
    assert.deepEqual([local['oom_kill'], local['oom_group_kill']], [4, 1], 'the kernel counted 4 kills, 1 group kill');
    await d.waitForLog((l) => l.event === 'oom_kill_unexplained' && l['cgroup'] === '/d2c-group', 30_000, 'the group kill, unexplained');
    await sleep(3000); // a fixed wait is the point: past the ledger's grace, nothing more may come
    s = await d.samples();
    assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2c-group' }), 3);
    assert.equal(sum(s, 'oomwatch_unexplained_oom_kills_total', { cgroup: '/d2c-group' }), 3);
    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
  } finally {
    d.child.kill('SIGKILL');
    await removeTree('d2c-decl');
    await removeTree('d2c-group');
    state.remove();
  }
});
