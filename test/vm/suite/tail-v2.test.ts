/**
 * `oomwatch tail --json` on the real cgroup v2 kernel in the VM: a group kill (memory.oom.group)
 * gives one event per process, all group kills, and a plain memcg OOM gives the hog's pid and
 * cgroup. One tail for both (every node start costs seconds under TCG).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTail } from '../../helpers/tail.js';
import { CGROUP2, HOG, exited, guest, killAll, makeCg, removeTree, spawnIn, spawnSleeper } from '../guest.js';

const MiB = 1024 * 1024;

test('oomwatch tail --json on cgroup v2: a group kill, then a memcg OOM', guest(), async (t) => {
  const tail = startTail(['--json']);
  try {
    await tail.ready(90_000);

    let groupPids: number[] = [];
    await t.test('memory.oom.group=1, three processes: one event per process, all group_kill', async () => {
      makeCg('t-group', { 'memory.max': String(32 * MiB), 'memory.oom.group': '1' });
      const sleepers = [spawnSleeper(), spawnSleeper()];
      try {
        for (const s of sleepers) writeFileSync(join(CGROUP2, 't-group', 'cgroup.procs'), String(s.pid));
        const hog = spawnIn('t-group', HOG);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        for (const s of sleepers) assert.equal((await exited(s)).signal, 'SIGKILL');
        groupPids = [hog.pid as number, ...sleepers.map((s) => s.pid as number)];
        await tail.until('an event for each of the three', () => groupPids.every((p) => tail.eventsFor(p).length > 0), 30_000);
        const hogEvent = tail.eventsFor(hog.pid as number)[0];
        assert.equal(hogEvent?.victim_cgroup, '/t-group', 'the summary names the first victim\'s cgroup');
        for (const p of groupPids) {
          const e = tail.eventsFor(p)[0];
          assert.equal(e?.group_kill, true, `pid ${p} is a group kill`);
          assert.equal(e?.oom_cgroup, '/t-group');
          assert.equal(e?.scope, 'cgroup');
        }
      } finally {
        killAll(sleepers);
        await removeTree('t-group');
      }
    });

    await t.test('a 64M dd in a 32M cgroup: the hog\'s pid and cgroup', async () => {
      makeCg('t-oom', { 'memory.max': String(32 * MiB) });
      try {
        const hog = spawnIn('t-oom', HOG);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        const pid = hog.pid as number;
        await tail.until(`the kill of pid ${pid}`, () => tail.eventsFor(pid).length > 0, 30_000);
        const e = tail.eventsFor(pid);
        assert.equal(e.length, 1);
        assert.deepEqual(
          [e[0]?.process, e[0]?.scope, e[0]?.constraint, e[0]?.oom_cgroup, e[0]?.victim_cgroup, e[0]?.group_kill],
          ['dd', 'cgroup', 'CONSTRAINT_MEMCG', '/t-oom', '/t-oom', false],
        );
      } finally {
        await removeTree('t-oom');
      }
    });

    // This kill's records come after the group kill's: every one of those has been read by now,
    // the first victim's repeated kill line included.
    for (const p of groupPids) assert.equal(tail.eventsFor(p).length, 1, `pid ${p} reported once`);
    assert.deepEqual(await tail.stop('SIGTERM'), { code: 0, signal: null }, tail.stderr.join('\n'));
  } finally {
    tail.kill();
  }
});
