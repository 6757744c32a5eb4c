/**
 * `oomwatch tail --json` on the real cgroup v2 kernel in the VM: a group kill (memory.oom.group)
 * gives one event per process, all group kills; a plain memcg OOM gives the hog's pid and cgroup
 * and the report's account (memory counters, stat block, candidates, wall-clock time); a system
 * OOM gives the Mem-Info summary. One tail for all three (every node start costs seconds under TCG).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTail } from '../../helpers/tail.js';
import { CGROUP2, HOG, exited, guest, killAll, makeCg, removeTree, spawnIn, spawnSleeper } from '../guest.js';

const MiB = 1024 * 1024;

test('oomwatch tail --json on cgroup v2: a group kill, a memcg OOM, a system OOM', guest(), async (t) => {
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

    await t.test('a 64M dd in a 32M cgroup: the hog\'s pid and cgroup, the report\'s memory, stat block and candidates', async () => {
      makeCg('t-oom', { 'memory.max': String(32 * MiB) });
      try {
        const hog = spawnIn('t-oom', HOG);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        const diedAtMs = Date.now();
        const pid = hog.pid as number;
        await tail.until(`the kill of pid ${pid}`, () => tail.eventsFor(pid).length > 0, 30_000);
        const e = tail.eventsFor(pid);
        assert.equal(e.length, 1);
        const ev = e[0];
        assert.ok(ev !== undefined);
        assert.deepEqual(
          [ev.process, ev.scope, ev.constraint, ev.oom_cgroup, ev.victim_cgroup, ev.group_kill],
          ['dd', 'cgroup', 'CONSTRAINT_MEMCG', '/t-oom', '/t-oom', false],
        );
        // The kill's wall-clock time: at most a second before this test saw the hog dead.
        const killMs = Date.parse(ev.kill_time ?? '');
        assert.ok(killMs <= diedAtMs + 50 && diedAtMs - killMs < 1000, `kill_time ${String(ev.kill_time)}, hog seen dead at ${new Date(diedAtMs).toISOString()}`);
        // `memory: usage …, limit …, failcnt …`: the limit this test set, reached.
        const m = ev.memory;
        assert.ok(m !== null, 'the report\'s memory counters');
        assert.equal(m.limit, 32 * MiB);
        assert.ok(m.usage > 31 * MiB && m.usage <= 32 * MiB, `usage ${m.usage}`);
        assert.ok(m.failcnt > 0, `failcnt ${m.failcnt}`);
        assert.equal(m.memsw, null, 'v2 prints swap:, not memory+swap:');
        assert.ok(m.swap !== null, 'v2 prints swap:');
        // The stat block: dd's 64M buffer is anonymous memory, most of the cgroup's usage.
        const stat = ev.memory_stat;
        assert.ok(stat !== null, 'the report\'s stat block');
        const anon = stat['anon'];
        assert.ok(typeof anon === 'number' && anon > 24 * MiB, `anon ${String(anon)}`);
        for (const k of ['file', 'kernel', 'shmem'] as const) {
          const v = stat[k];
          if (typeof v === 'number') assert.ok(v < anon, `${k} ${v} < anon ${anon}`);
        }
        // The task table: dd alone in t-oom, the victim, its badness rss + swap + page tables.
        const c = ev.candidates;
        assert.ok(c !== null && c.length === 1 && ev.candidates_total === 1, JSON.stringify(c));
        const v = c[0];
        assert.ok(v !== undefined);
        assert.deepEqual([v.pid, v.process, v.victim, v.oom_score_adj], [pid, 'dd', true, 0]);
        assert.equal(v.badness, (v.rss_pages ?? 0) + (v.swapents ?? 0) + Math.floor((v.pgtables_bytes ?? 0) / 4096));
        assert.ok((v.rss_pages ?? 0) * 4096 > 24 * MiB, `rss ${String(v.rss_pages)} pages`);
      } finally {
        await removeTree('t-oom');
      }
    });

    await t.test('a system OOM (no cgroup limit): the Mem-Info summary and the whole host\'s candidates', async () => {
      // Bigger than what the 512M VM has free; oom_score_adj 1000 makes it the OOM killer's choice.
      makeCg('t-global');
      try {
        const hog = spawnIn('t-global', ['sh', '-c', 'echo 1000 > /proc/self/oom_score_adj && exec dd if=/dev/zero of=/dev/null bs=440M count=1']);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        const pid = hog.pid as number;
        await tail.until(`the kill of pid ${pid}`, () => tail.eventsFor(pid).length > 0, 30_000);
        const ev = tail.eventsFor(pid)[0];
        assert.ok(ev !== undefined);
        assert.deepEqual([ev.process, ev.scope, ev.constraint, ev.oom_cgroup, ev.victim_cgroup], ['dd', 'system', 'CONSTRAINT_NONE', null, '/t-global']);
        assert.equal(ev.memory, null, 'no memory cgroup\'s counters in a system OOM');
        const mi = ev.mem_info;
        assert.ok(mi !== null, 'the Mem-Info summary');
        // `N pages RAM` is all of the VM's RAM: MemTotal is that less what the kernel reserved.
        const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) * 1024;
        const ram = mi['ram'] ?? 0;
        assert.ok(ram >= memTotal && ram <= 512 * MiB, `ram ${ram}, MemTotal ${memTotal}`);
        assert.ok((mi['free'] ?? Infinity) < 64 * MiB, `free ${String(mi['free'])} at the OOM`);
        assert.equal(mi['total_swap'], 0, 'the VM has no swap');
        // The table lists every process of the host; the hog first, by far.
        const c = ev.candidates;
        assert.ok(c !== null && c.length >= 2 && (ev.candidates_total ?? 0) >= c.length, JSON.stringify(c));
        assert.deepEqual([c[0]?.pid, c[0]?.victim, c[0]?.oom_score_adj], [pid, true, 1000]);
        assert.ok(c.slice(1).every((x) => !x.victim && (x.badness ?? 0) < (c[0]?.badness ?? 0)));
        assert.ok(c.some((x) => x.pid === tail.pid), 'the tail itself was weighed');
      } finally {
        await removeTree('t-global');
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
