/**
 * The daemon's record of the last kills (`<state_dir>/kills.jsonl`) and `oomwatch kills`, on the
 * real v1 kernel: kills made while the daemon is stopped are found when it starts again and
 * recorded once each with the time they happened, not the restart's; a kill while it runs is
 * recorded once, live; `explain` without a file tells any of them from the same record.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG, waitOutOomReportRateLimit } from '../helpers/v1cgroup.js';
import { startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon.js';
import { oomwatchAsync } from '../helpers/cli.js';
import type { RecordedKill } from '../../src/daemon/recentKills.js';

const M = 2 ** 20;

/** Run a hog in the cgroup; its pid and when it was seen dead (the kill is just before). */
async function oomKill(dir: string): Promise<{ pid: number; diedAtMs: number }> {
  const child = spawnInCgroup(dir, HOG);
  const r = await exited(child);
  const diedAtMs = Date.now();
  assert.equal(r.signal, 'SIGKILL', `the hog in ${dir} was OOM-killed`);
  return { pid: child.pid as number, diedAtMs };
}

/** `oomwatch kills --json` for the state directory: the recorded kills, newest last. */
async function recorded(stateDir: string, ...args: string[]): Promise<RecordedKill[]> {
  const r = await oomwatchAsync(['kills', '--json', '--state-dir', stateDir, ...args]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as RecordedKill);
}

describe('oomwatch kills: the kills the daemon recorded, across a restart, on the real v1 kernel', realKernel(), () => {
  const state = tempDir('kills');
  const name = uniqueTestName('kills');
  const dir = join(V1_MEMORY_MOUNT, name);
  const daemons: DaemonProcess[] = [];
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL');
    await removeCgroupTree(dir);
    removePrefixIfEmpty();
    state.remove();
    // Four kills: the next test file's kills must come with their reports.
    await waitOutOomReportRateLimit();
  });

  test('kills while the daemon was stopped: each recorded once, at its own time, found after the restart; a live kill once', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(64 * M));
    const first = await startDaemon({ stateDir: state.dir });
    daemons.push(first);
    const before = await oomKill(dir);
    await first.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === before.pid, 10_000, `the kill of ${before.pid}`);
    assert.deepEqual((await first.stop('SIGTERM')).code, 0);

    const whileDown = [await oomKill(dir), await oomKill(dir)];
    // Older than the table's "found late" threshold (5 s) by the restart.
    await new Promise((r) => setTimeout(r, Math.max(0, (whileDown[0] as { diedAtMs: number }).diedAtMs + 6000 - Date.now())));
    const restartMs = Date.now();
    const second = await startDaemon({ stateDir: state.dir });
    daemons.push(second);
    for (const k of whileDown) await second.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === k.pid, 10_000, `the kill of ${k.pid}, found after the restart`);

    const kills = (await recorded(state.dir)).filter((k) => k.event.victim_cgroup === `/${name}`);
    assert.deepEqual(kills.map((k) => k.event.pid), [before.pid, ...whileDown.map((k) => k.pid)], 'each kill once, oldest first');
    for (const k of whileDown) {
      const rec = kills.find((r) => r.event.pid === k.pid) as RecordedKill;
      const killMs = Date.parse(rec.event.kill_time as string);
      assert.ok(Math.abs(killMs - k.diedAtMs) < 1000, `kill_time ${String(rec.event.kill_time)} of ${k.pid}: the hog was seen dead at ${new Date(k.diedAtMs).toISOString()}`);
      assert.ok(killMs < restartMs, `kill_time ${String(rec.event.kill_time)} before the restart at ${new Date(restartMs).toISOString()}`);
      assert.ok(Date.parse(rec.detected_at) >= restartMs, `detected_at ${rec.detected_at} after the restart at ${new Date(restartMs).toISOString()}`);
      assert.deepEqual([rec.event.process, rec.event.oom_cgroup, rec.event.memory?.limit, rec.names.limit], ['dd', `/${name}`, 64 * M, 'own']);
    }
    const live = kills[0] as RecordedKill;
    assert.ok(Date.parse(live.detected_at) - Date.parse(live.event.kill_time as string) < 2000, `the live kill found at once: ${live.event.kill_time} → ${live.detected_at}`);

    // The table: the kills found after the restart say how late; the live one says live.
    const table = await oomwatchAsync(['kills', '--state-dir', state.dir]);
    assert.equal(table.status, 0, table.stderr);
    const rowOf = (pid: number): string => {
      const rows = table.stdout.split('\n').filter((l) => l.split(/\s+/)[2] === String(pid));
      assert.equal(rows.length, 1, `one row for ${pid}:\n${table.stdout}`);
      return rows[0] as string;
    };
    assert.match(rowOf(before.pid), new RegExp(`^\\S+Z +live +${before.pid} dd +own +[0-9.]+M/64\\.0M +- +/${name}$`));
    for (const k of whileDown) assert.match(rowOf(k.pid), new RegExp(`^\\S+Z +\\+\\d+s +${k.pid} dd +own +[0-9.]+M/64\\.0M +- +/${name}$`));

    // A kill while it runs: recorded once, live; --since shows only what is recent.
    const running = await oomKill(dir);
    await second.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === running.pid, 10_000, `the kill of ${running.pid}`);
    const after = (await recorded(state.dir)).filter((k) => k.event.victim_cgroup === `/${name}`);
    assert.deepEqual(after.map((k) => k.event.pid), [before.pid, ...whileDown.map((k) => k.pid), running.pid]);
    const sinceMs = Date.now() - restartMs + 1000;
    const recent = (await recorded(state.dir, '--since', `${Math.ceil(sinceMs / 1000)}s`)).filter((k) => k.event.victim_cgroup === `/${name}`);
    assert.deepEqual(recent.map((k) => k.event.pid), [running.pid], `--since ${Math.ceil(sinceMs / 1000)}s: only the kill after the restart`);

    // explain without FILE reads the same record: the last kill by default, any other by --pid,
    // each with its own time and the report's account of the kill.
    const last = await oomwatchAsync(['explain', '--state-dir', state.dir]);
    assert.equal(last.status, 0, last.stderr);
    assert.match(last.stdout, new RegExp(`^The kernel's OOM killer killed pid ${running.pid} "dd"`), last.stdout);
    assert.match(last.stdout, new RegExp(`cgroup +/${name}\\n`), last.stdout);
    assert.match(last.stdout, /Usage [0-9.]+M of a 64\.0M limit/, last.stdout);
    const down = whileDown[0] as { pid: number };
    const one = await oomwatchAsync(['explain', '--json', '--pid', String(down.pid), '--state-dir', state.dir]);
    assert.equal(one.status, 0, one.stderr);
    const story = JSON.parse(one.stdout) as { pid: number; kill_time: string; detected_at: string; victim_cgroup: string };
    const rec = after.find((k) => k.event.pid === down.pid) as RecordedKill;
    assert.deepEqual([story.pid, story.victim_cgroup, story.kill_time, story.detected_at], [down.pid, `/${name}`, rec.event.kill_time, rec.detected_at]);
    assert.equal((await second.stop('SIGTERM')).code, 0);
  });
});
