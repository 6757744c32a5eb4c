/**
 * The real daemon on the Node that runs this file. test/run.mjs runs it on the default node and
 * again on Nodes 24 and 22, with OOMWATCH_TEST_NODE naming that binary and its directory first on PATH. The
 * daemon must then be that very binary, whether the test helpers start it (process.execPath
 * bin/oomwatch) or bin/oomwatch runs as a program (#!/usr/bin/env -S node FLAGS); its kernel log reader must
 * be woken by the kernel (the notifier needs Node's internal pipe_wrap binding, so this is checked
 * on every Node the suite runs on); and it must count a real OOM kill.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { realKernel } from '../helpers/privileged.js';
import { makeV1Cgroup, spawnInCgroup, exited, HOG, type TestCgroup } from '../helpers/v1cgroup.js';
import { startDaemon, tempDir, DaemonProcess } from '../helpers/daemon.js';
import { BIN, BIN_NODE_FLAGS } from '../helpers/cli.js';

const NODE = realpathSync(process.env['OOMWATCH_TEST_NODE'] ?? process.execPath);
const exe = (pid: number): string => readlinkSync(`/proc/${pid}/exe`);

describe(`oomwatch daemon on Node ${process.versions.node}`, realKernel(), () => {
  const state = tempDir('runtime');
  let cg: TestCgroup | undefined;
  let d: DaemonProcess | undefined;

  before(async () => {
    cg = makeV1Cgroup('runtime', 64 * 2 ** 20);
    d = await startDaemon({ stateDir: state.dir });
  });
  after(async () => {
    await d?.stop();
    await cg?.cleanup();
    state.remove();
  });

  test(`this file and the daemon it starts run on ${NODE}`, () => {
    assert.equal(realpathSync(process.execPath), NODE, 'node --test ran this file on another node');
    assert.equal(exe(d!.pid), NODE);
  });

  test(`on Node ${process.versions.node} the kernel wakes the daemon's kernel log reader (notify), and a real kill counts 1`, async () => {
    const health = JSON.parse(await d!.scrape('/healthz'));
    assert.equal(health.kmsg.up, true);
    assert.equal(health.kmsg.wake, 'notify', `on Node ${process.versions.node} the reader polls: ${health.kmsg.why_poll}`);
    const hog = spawnInCgroup(cg!.dir, HOG);
    assert.equal((await exited(hog)).signal, 'SIGKILL');
    const line = await d!.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === hog.pid, 10_000, `the kill of ${hog.pid}`);
    assert.equal(line['victim_cgroup'], cg!.kernelPath);
    assert.equal(await d!.waitForTotal('oomwatch_oom_kills_total', { cgroup: cg!.kernelPath }, (v) => v === 1), 1);
  });

  test(`bin/oomwatch run as a program (#!/usr/bin/env -S node FLAGS) runs on ${NODE} too, with its flags`, async (t) => {
    const dir = tempDir('runtime-env');
    t.after(() => dir.remove());
    const direct = new DaemonProcess(spawn(BIN, ['daemon', '--listen', '127.0.0.1:0', '--state-dir', dir.dir], { stdio: ['ignore', 'pipe', 'pipe'] }));
    t.after(async () => {
      await direct.stop();
    });
    await direct.waitForLog((l) => l.event === 'listening', 20_000, 'the listening log line');
    assert.equal(exe(direct.pid), NODE, "the first node on PATH is not the suite's: put its directory first");
    // The #! line's node flags reach node (which would refuse to start on one it does not know).
    const argv = readFileSync(`/proc/${direct.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(BIN_NODE_FLAGS.length > 0 && BIN_NODE_FLAGS.every((f) => argv.includes(f)), `node runs as ${argv.join(' ')}; want ${BIN_NODE_FLAGS.join(' ')}`);
    assert.equal((await direct.stop()).code, 0, 'SIGTERM exits 0');
  });
});
