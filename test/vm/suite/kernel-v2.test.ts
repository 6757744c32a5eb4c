/**
 * The cgroup v2 kernel facts the v2 backend relies on, checked on the real kernel in the VM with
 * plain cgroupfs writes (no oomwatch code): if one of these changes, the backend's tests would fail
 * for reasons that are not oomwatch's. Documentation/admin-guide/cgroup-v2.rst, "Memory".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CGROUP2, HOG, cgFile, cgKeyed, cgProcs, exited, guest, killAll, kmsgRecords, makeCg, removeTree, spawnIn, spawnSleeper,
  spawnStubborn,
} from '../guest.js';

const MiB = 1024 * 1024;

test('a 64M dd in a 32M cgroup is OOM-killed; memory.events counts oom 1, oom_kill 1; /dev/kmsg has the report', guest(), async () => {
  makeCg('k-oom', { 'memory.max': String(32 * MiB) });
  try {
    const hog = spawnIn('k-oom', HOG);
    const r = await exited(hog);
    assert.equal(r.signal, 'SIGKILL');
    // The guest sees the kernel log (devtmpfs /dev/kmsg): the summary and the kill line name our hog.
    const messages = kmsgRecords().map((rec) => rec.slice(rec.indexOf(';') + 1));
    assert.ok(
      messages.some((m) => m.startsWith('oom-kill:constraint=CONSTRAINT_MEMCG,') &&
        m.includes(',oom_memcg=/k-oom,task_memcg=/k-oom,task=dd,pid=' + hog.pid + ',')),
      'the oom-kill: summary for our hog',
    );
    assert.ok(
      messages.some((m) => m.startsWith(`Memory cgroup out of memory: Killed process ${hog.pid} (dd) `)),
      'the Killed process line for our hog',
    );
    const ev = cgKeyed('k-oom', 'memory.events');
    assert.equal(ev['oom'], 1);
    assert.equal(ev['oom_kill'], 1);
    // memory.peak (5.19+) saw the hog grow to the limit; the cgroup is empty now.
    const peak = Number(cgFile('k-oom', 'memory.peak'));
    assert.ok(peak > 16 * MiB && peak <= 32 * MiB, `memory.peak ${peak}`);
    assert.deepEqual(cgProcs('k-oom'), []);
  } finally {
    await removeTree('k-oom');
  }
});

test('a new cgroup has every memory file the v2 backend writes, at its default', guest(), async () => {
  makeCg('k-files');
  try {
    assert.equal(cgFile('k-files', 'memory.max').trim(), 'max');
    assert.equal(cgFile('k-files', 'memory.high').trim(), 'max');
    assert.equal(cgFile('k-files', 'memory.low').trim(), '0');
    assert.equal(cgFile('k-files', 'memory.swap.max').trim(), 'max');
    assert.equal(cgFile('k-files', 'memory.oom.group').trim(), '0');
    assert.deepEqual(Object.keys(cgKeyed('k-files', 'memory.events')).sort(), [
      'high', 'low', 'max', 'oom', 'oom_group_kill', 'oom_kill',
    ]);
  } finally {
    await removeTree('k-files');
  }
});

test('memory.events is hierarchical, memory.events.local per level: limit on the parent, hog in the child', guest(), async () => {
  makeCg('k-hier', { 'memory.max': String(32 * MiB) });
  makeCg('k-hier/leaf');
  try {
    const r = await exited(spawnIn('k-hier/leaf', HOG));
    assert.equal(r.signal, 'SIGKILL');
    // The OOM happened at k-hier (its limit); the kill at leaf (the victim's cgroup).
    assert.deepEqual(pick(cgKeyed('k-hier', 'memory.events')), { oom: 1, oom_kill: 1 });
    assert.deepEqual(pick(cgKeyed('k-hier', 'memory.events.local')), { oom: 1, oom_kill: 0 });
    assert.deepEqual(pick(cgKeyed('k-hier/leaf', 'memory.events')), { oom: 0, oom_kill: 1 });
    assert.deepEqual(pick(cgKeyed('k-hier/leaf', 'memory.events.local')), { oom: 0, oom_kill: 1 });
  } finally {
    await removeTree('k-hier');
  }
});

test('memory.oom.group=1: one hog\'s OOM kills all three processes; oom_group_kill 1', guest(), async () => {
  makeCg('k-group', { 'memory.max': String(32 * MiB), 'memory.oom.group': '1' });
  const sleepers = [spawnSleeper(), spawnSleeper()];
  try {
    for (const s of sleepers) writeFileSync(join(CGROUP2, 'k-group', 'cgroup.procs'), String(s.pid));
    const r = await exited(spawnIn('k-group', HOG));
    assert.equal(r.signal, 'SIGKILL');
    for (const s of sleepers) assert.equal((await exited(s)).signal, 'SIGKILL');
    const ev = cgKeyed('k-group', 'memory.events');
    assert.equal(ev['oom'], 1);
    assert.equal(ev['oom_group_kill'], 1);
    assert.ok((ev['oom_kill'] ?? 0) >= 3, `oom_kill ${ev['oom_kill']}`);
  } finally {
    killAll(sleepers);
    await removeTree('k-group');
  }
});

test('no internal processes: +memory in a populated non-root cgroup\'s subtree_control is EBUSY', guest(), async () => {
  makeCg('k-internal');
  const sleeper = spawnSleeper();
  try {
    writeFileSync(join(CGROUP2, 'k-internal', 'cgroup.procs'), String(sleeper.pid));
    assert.throws(() => writeFileSync(join(CGROUP2, 'k-internal', 'cgroup.subtree_control'), '+memory'), {
      code: 'EBUSY',
    });
  } finally {
    killAll([sleeper]);
    await removeTree('k-internal');
  }
});

test('cgroup.kill SIGKILLs every process in the subtree; memory.pressure reads as PSI', guest(), async () => {
  // Processes two levels down: k-kill itself has +memory for its children, so it may hold none.
  makeCg('k-kill/one');
  makeCg('k-kill/two/deep');
  const top = spawnStubborn();
  const inner = spawnSleeper();
  try {
    // The stubborn one shrugs off SIGTERM (so a test of a force-removal can tell a SIGKILL happened).
    top.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(top.exitCode ?? top.signalCode, null, 'the stubborn process ignores SIGTERM');
    writeFileSync(join(CGROUP2, 'k-kill/one', 'cgroup.procs'), String(top.pid));
    writeFileSync(join(CGROUP2, 'k-kill/two/deep', 'cgroup.procs'), String(inner.pid));
    assert.match(cgFile('k-kill', 'cgroup.events'), /^populated 1$/m);
    assert.match(cgFile('k-kill', 'memory.pressure'), /^some avg10=\d+\.\d+ avg60=\d+\.\d+ avg300=\d+\.\d+ total=\d+$/m);
    assert.match(cgFile('k-kill', 'memory.pressure'), /^full avg10=/m);
    writeFileSync(join(CGROUP2, 'k-kill', 'cgroup.kill'), '1');
    assert.equal((await exited(top)).signal, 'SIGKILL');
    assert.equal((await exited(inner)).signal, 'SIGKILL');
  } finally {
    killAll([top, inner]);
    await removeTree('k-kill');
  }
});

function pick(ev: Record<string, number>): { oom: number | undefined; oom_kill: number | undefined } {
  return { oom: ev['oom'], oom_kill: ev['oom_kill'] };
}
