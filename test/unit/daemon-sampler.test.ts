import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { FdBudget } from '../../src/cgroup/sampler.js';
import { V1CgroupSampler } from '../../src/cgroup/v1/sampler.js';
import { V2CgroupSampler } from '../../src/cgroup/v2/sampler.js';
import { CgroupMemoryCollector } from '../../src/collectors/cgroupMemory.js';
import { parseMaxOpenFiles } from '../../src/proc/limits.js';
import { ParseError } from '../../src/errors.js';

/** A v1 memory cgroup directory as plain files. */
function v1Dir(usage: number, inactive: number, oomKill = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-sampler-'));
  writeFileSync(join(dir, 'cgroup.procs'), '');
  writeFileSync(join(dir, 'memory.usage_in_bytes'), `${usage}\n`);
  writeFileSync(join(dir, 'memory.limit_in_bytes'), '67108864\n');
  writeFileSync(join(dir, 'memory.max_usage_in_bytes'), `${usage * 2}\n`);
  writeFileSync(join(dir, 'memory.failcnt'), '3\n');
  writeFileSync(join(dir, 'memory.oom_control'), `oom_kill_disable 0\nunder_oom 0\noom_kill ${oomKill}\n`);
  writeFileSync(join(dir, 'memory.stat'), `cache 0\ntotal_inactive_file ${inactive}\n`);
  return dir;
}

const openFds = () => readdirSync('/proc/self/fd').length;

test('parseMaxOpenFiles reads the soft limit, unlimited as null, and rejects a missing line', () => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            20000                40000                files     \n';
  assert.equal(parseMaxOpenFiles(text), 20000);
  assert.equal(parseMaxOpenFiles(text.replace('20000', 'unlimited')), null);
  assert.throws(() => parseMaxOpenFiles('Max cpu time unlimited unlimited seconds\n'), ParseError);
});

test('a sampler past its fd budget reads the same values without keeping descriptors open', () => {
  const dir = v1Dir(4096 * 10, 4096 * 4, 2);
  try {
    const kept = new V1CgroupSampler('/a', dir);
    const before = openFds();
    const a = kept.sample();
    assert.equal(openFds(), before + 6, 'six files kept open');
    const budget = new FdBudget(2);
    const transient = new V1CgroupSampler('/a', dir, budget);
    const b = transient.sample();
    assert.equal(openFds(), before + 6 + 2, 'only the two budgeted files stay open');
    assert.deepEqual(b, a);
    assert.equal(b.workingSet, 4096 * 6);
    assert.equal(b.ownOomKills, 2);
    // The values are read afresh each time, kept or not.
    writeFileSync(join(dir, 'memory.usage_in_bytes'), `${4096 * 20}\n`);
    assert.equal(transient.sample().current, 4096 * 20);
    assert.equal(kept.sample().current, 4096 * 20);
    transient.close();
    kept.close();
    assert.equal(openFds(), before);
    assert.equal(budget.take() && budget.take(), true, 'close() gave the budget back');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty cgroup has a working set of 0 without memory.stat being read', () => {
  const dir = v1Dir(0, 4096);
  try {
    rmSync(join(dir, 'memory.stat'));
    const s = new V1CgroupSampler('/e', dir);
    assert.equal(s.sample().workingSet, 0);
    writeFileSync(join(dir, 'memory.usage_in_bytes'), '8192\n');
    assert.throws(() => s.sample(), /memory\.stat/, 'a cgroup with usage needs memory.stat');
    s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unchanged values are not set again, changed ones are, and a removed cgroup starts afresh', async () => {
  const dir = v1Dir(4096 * 10, 4096 * 4, 1);
  try {
    const registry = new Registry();
    const c = new CgroupMemoryCollector({ openSampler: (p, budget) => new V1CgroupSampler(p, dir, budget) }, registry, { onSample: () => undefined, onGone: () => undefined, onNotMemory: (p) => assert.fail(`${p} has no memory files`), onError: (p, e) => assert.fail(`${p}: ${String(e)}`) });
    const value = async (name: string, labels: Record<string, string> = { cgroup: '/a' }) =>
      (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
    c.add('/a');
    c.update(0);
    c.update(1);
    assert.equal(await value('oomwatch_cgroup_memory_usage_bytes'), 40960);
    assert.equal(await value('oomwatch_cgroup_memory_events_total', { cgroup: '/a', event: 'oom_kill' }), 1);
    writeFileSync(join(dir, 'memory.usage_in_bytes'), '8192\n');
    writeFileSync(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    writeFileSync(join(dir, 'memory.limit_in_bytes'), '9223372036854771712\n');
    c.update(2);
    assert.equal(await value('oomwatch_cgroup_memory_usage_bytes'), 8192);
    assert.equal(await value('oomwatch_cgroup_memory_events_total', { cgroup: '/a', event: 'oom_kill' }), 3);
    assert.equal(await value('oomwatch_cgroup_memory_limit_bytes'), undefined, 'unlimited: no limit series');
    c.remove('/a');
    assert.equal(await value('oomwatch_cgroup_memory_usage_bytes'), undefined);
    c.add('/a');
    c.update(3);
    assert.equal(await value('oomwatch_cgroup_memory_usage_bytes'), 8192, 'exported again after remove/add');
    assert.equal(await value('oomwatch_cgroup_memory_events_total', { cgroup: '/a', event: 'oom_kill' }), 3);
    c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('v2: a group kill\'s double count is taken off the processes killed, not off the kernel\'s own counter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-sampler-v2-'));
  try {
    writeFileSync(join(dir, 'cgroup.procs'), '');
    writeFileSync(join(dir, 'memory.current'), '0\n');
    writeFileSync(join(dir, 'memory.max'), 'max\n');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 5\noom_group_kill 1\n');
    const s = new V2CgroupSampler('/g', dir);
    assert.equal(s.sample().ownOomKills, null, 'no memory.events.local: no own counter');
    s.close();
    writeFileSync(join(dir, 'memory.events.local'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 5\noom_group_kill 1\n');
    const t = new V2CgroupSampler('/g', dir);
    const a = t.sample();
    assert.equal(a.ownOomKills, 5);
    assert.equal(a.ownKilledProcesses, 4, '4 processes group-killed read oom_kill 5, oom_group_kill 1');
    assert.equal(a.max, null);
    assert.equal(a.events.oom_kill, 5);
    t.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("usage(), for a kill's log line: the sample's current, max and peak from their three files alone (v1, v2)", () => {
  const v1 = v1Dir(8192, 4096);
  const v2 = mkdtempSync(join(tmpdir(), 'oomwatch-sampler-v2-'));
  try {
    const a = new V1CgroupSampler('/a', v1);
    const { current, max, peak } = a.sample();
    assert.deepEqual(a.usage(), { current, max, peak });
    assert.deepEqual(a.usage(), { current: 8192, max: 64 * 2 ** 20, peak: 16384 });
    a.close();
    for (const f of ['memory.stat', 'memory.oom_control', 'memory.failcnt']) rmSync(join(v1, f));
    const b = new V1CgroupSampler('/a', v1);
    assert.deepEqual(b.usage(), { current: 8192, max: 64 * 2 ** 20, peak: 16384 }, 'no other v1 file read');
    assert.throws(() => b.sample(), /memory\.oom_control/);
    b.close();

    writeFileSync(join(v2, 'cgroup.procs'), '');
    writeFileSync(join(v2, 'memory.current'), '12288\n');
    writeFileSync(join(v2, 'memory.max'), 'max\n');
    const c = new V2CgroupSampler('/g', v2);
    assert.deepEqual(c.usage(), { current: 12288, max: null, peak: null }, 'no memory.peak (before 5.19): null; no memory.stat or memory.events read');
    c.close();
    writeFileSync(join(v2, 'memory.peak'), '20480\n');
    const d = new V2CgroupSampler('/g', v2);
    assert.deepEqual(d.usage(), { current: 12288, max: null, peak: 20480 });
    d.close();
    rmSync(join(v2, 'memory.current'));
    const e = new V2CgroupSampler('/g', v2);
    assert.throws(() => e.usage(), /memory\.current/);
    e.close();
  } finally {
    rmSync(v1, { recursive: true, force: true });
    rmSync(v2, { recursive: true, force: true });
  }
});
