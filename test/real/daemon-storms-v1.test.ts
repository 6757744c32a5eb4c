/**
 * Two OOM storms at once in sibling v1 cgroups, on the real kernel: the kernel rate-limits the
 * report headers (10 per 5 s, shared by both), so most kill lines come without their cgroup. Each
 * full report's task table lists the tasks of its cgroup; the daemon must log every killed pid
 * under its own cgroup, and the per-cgroup counters must equal the kernel's.
 *
 * The hogs are all in their cgroups before the first OOM (they wait on a FIFO, then exec dd: the
 * pid stays), so the first reports' tables list every one of them. A task that joins a cgroup
 * after the last full report of a storm is in no table: only the counters can place it.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG, oomControl, waitOutOomReportRateLimit } from '../helpers/v1cgroup.js';
import { until } from '../helpers/until.js';
import { startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon.js';

const M = 2 ** 20;
const HOGS = 15;

describe('oomwatch daemon: two simultaneous storms in sibling v1 cgroups', realKernel(), () => {
  const state = tempDir('storms');
  const parent = uniqueTestName('storms');
  const siblings = ['a', 'b'].map((s) => `${parent}/${s}`);
  let d: DaemonProcess;

  before(async () => {
    for (const s of siblings) {
      mkdirSync(join(V1_MEMORY_MOUNT, s), { recursive: true });
      writeFileSync(join(V1_MEMORY_MOUNT, s, 'memory.limit_in_bytes'), String(24 * M));
    }
    d = await startDaemon({ stateDir: state.dir });
  });
  after(async () => {
    await d?.stop();
    await removeCgroupTree(join(V1_MEMORY_MOUNT, parent));
    removePrefixIfEmpty();
    state.remove();
    // The next test file's kills must come with their reports.
    await waitOutOomReportRateLimit();
  });

  test('every killed pid is logged under its own cgroup; each counter equals the kernel\'s', async (t) => {
    const gate = join(state.dir, 'gate');
    assert.equal(spawnSync('mkfifo', [gate]).status, 0);
    // Read-write: opening never blocks, and the FIFO stays open for the hogs' reads.
    const fd = openSync(gate, 'r+');
    // Closing it unblocks any hog still waiting (its read sees EOF), whatever fails below.
    t.after(() => closeSync(fd));
    const hogs = Array.from({ length: HOGS * 2 }, (_, i) => {
      const cgroup = siblings[i % 2] as string;
      const argv = ['sh', '-c', 'read x < "$0"; exec "$@"', gate, ...HOG];
      return { cgroup, child: spawnInCgroup(join(V1_MEMORY_MOUNT, cgroup), argv) };
    });
    const inCgroups = (): boolean =>
      hogs.every((h) => readFileSync(join(V1_MEMORY_MOUNT, h.cgroup, 'cgroup.procs'), 'utf8').split('\n').includes(String(h.child.pid)));
    await until('every hog in its cgroup', inCgroups);
    // One line per hog (sh reads a pipe byte by byte: each read takes one line): all start at once.
    writeSync(fd, 'go\n'.repeat(hogs.length));
    const results = await Promise.all(hogs.map((h) => exited(h.child)));
    assert.ok(results.every((r) => r.signal === 'SIGKILL'), 'every hog was OOM-killed');
    for (const s of siblings) {
      assert.equal(oomControl(join(V1_MEMORY_MOUNT, s))['oom_kill'], HOGS, `the kernel counted ${HOGS} kills in ${s}`);
      assert.equal(await d.waitForTotal('oomwatch_oom_kills_total', { cgroup: `/${s}` }, (v) => v === HOGS, 20_000), HOGS);
    }
    for (const h of hogs) {
      await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === h.child.pid, 20_000, `the log line of ${h.child.pid}`);
    }
    const wrong = hogs
      .map((h) => ({ pid: h.child.pid, want: `/${h.cgroup}`, line: d.logs.find((l) => l.event === 'oom_kill' && l['pid'] === h.child.pid) }))
      .filter((x) => x.line?.['victim_cgroup'] !== x.want)
      .map((x) => `${x.pid}: logged under ${String(x.line?.['victim_cgroup'])} (by ${String(x.line?.['attributed_by'])}), is in ${x.want}`);
    assert.deepEqual(wrong, []);
    const lines = d.logs.filter((l) => l.event === 'oom_kill' && hogs.some((h) => h.child.pid === l['pid']));
    assert.equal(lines.length, HOGS * 2, 'each pid logged once');
    assert.ok(lines.some((l) => l['trigger_process'] === null), 'some kill lines came without their report');
  });
});
