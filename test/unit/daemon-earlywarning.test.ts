import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { MemorySample } from '../../src/cgroup/sampler.js';
import type { MemoryPressure } from '../../src/cgroup/files/memoryPressure.js';
import { DEFAULT_EARLY_WARN } from '../../src/daemon/config.js';
import { EarlyWarner, type Warning } from '../../src/daemon/earlyWarning.js';
import { hierarchicalMemoryLimit, unreclaimableBytes } from '../../src/cgroup/files/memoryStat.js';

const M = 2 ** 20;
const LIMIT = 64 * M;

function v1Stat(o: { rss: number; shmem?: number; cache?: number; limit?: number | 'max' }): string {
  const limit = o.limit === 'max' || o.limit === undefined ? '9223372036854771712' : String(o.limit);
  return `cache ${o.cache ?? 0}\nrss ${o.rss}\nshmem ${o.shmem ?? 0}\nhierarchical_memory_limit ${limit}\ntotal_cache ${o.cache ?? 0}\ntotal_rss ${o.rss}\ntotal_shmem ${o.shmem ?? 0}\ntotal_inactive_file 0\n`;
}

function sample(o: { current: number; max?: number | null; stat: string | null; failcnt?: number; high?: number; pressure?: MemoryPressure | null }): MemorySample {
  return {
    current: o.current, max: o.max === undefined ? LIMIT : o.max, peak: null, workingSet: o.current,
    events: { low: null, high: o.high ?? null, max: o.failcnt ?? 0, oom: null, oom_kill: 0, oom_group_kill: null },
    ownOomKills: 0, ownKilledProcesses: 0, pressure: o.pressure ?? null, stat: o.stat,
  };
}

function rig(version: 1 | 2 = 1, cfg = DEFAULT_EARLY_WARN) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const registry = new Registry();
  const warned: Warning[] = [];
  const w = new EarlyWarner(cfg, version, registry, log, (path) => ({ evidence_of: path }), (x) => warned.push(x));
  const events = () => lines.map((l) => `${String(l['event'])} ${String(l['cgroup'])}`);
  const gauge = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
  return { w, lines, events, warned, gauge };
}

test('memory.stat: unreclaimable is anon + shmem (v1 total_*), v2 adds kernel less reclaimable slab; the v1 limit in effect', () => {
  assert.equal(unreclaimableBytes(v1Stat({ rss: 10, shmem: 5, cache: 1000 }), 1), 15);
  assert.equal(unreclaimableBytes('anon 100\nfile 5000\nkernel 40\nshmem 7\nslab_reclaimable 30\n', 2), 117);
  assert.equal(unreclaimableBytes('anon 100\nfile 5000\nkernel_stack 1\npagetables 2\npercpu 3\nsock 4\nshmem 7\nslab_unreclaimable 5\nslab_reclaimable 30\n', 2), 122, 'kernels without `kernel`: its parts');
  assert.equal(unreclaimableBytes('file 5\n', 2), undefined);
  assert.equal(hierarchicalMemoryLimit(v1Stat({ rss: 0, limit: 'max' })), null);
  assert.equal(hierarchicalMemoryLimit(v1Stat({ rss: 0, limit: LIMIT })), LIMIT);
  assert.equal(hierarchicalMemoryLimit('anon 1\n'), undefined);
});

test('a leak of unreclaimable memory is predicted once, with its figures and evidence; cleared when the trend stops', async () => {
  const { w, events, warned, gauge } = rig();
  let t = 0;
  for (let mib = 8; mib <= 24; mib += 8, t += 1000) w.observe('/a', sample({ current: mib * M, stat: v1Stat({ rss: mib * M, limit: LIMIT }) }), t);
  // 3 samples over 2 s at 8 MiB/s: 40 MiB of headroom is 5 s away, within the 30 s horizon.
  assert.deepEqual(events(), ['oom_predicted /a']);
  assert.equal(warned[0]?.['seconds_to_limit'], 5);
  assert.equal(warned[0]?.['growth_bytes_per_second'], 8 * M);
  assert.equal(warned[0]?.['evidence_of'], '/a', 'the evidence of the cgroup is in the line');
  assert.equal(await gauge('oomwatch_cgroup_memory_seconds_to_limit', { cgroup: '/a' }), 5);
  assert.equal(await gauge('oomwatch_cgroup_memory_warning', { cgroup: '/a', signal: 'oom_predicted' }), 1);
  assert.ok(w.inDanger().has('/a'), 'sampled between polls');
  w.observe('/a', sample({ current: 32 * M, stat: v1Stat({ rss: 32 * M, limit: LIMIT }) }), t);
  assert.deepEqual(events(), ['oom_predicted /a'], 'fires once');
  // The process was killed: a drop resets the trend, no forecast, cleared.
  w.observe('/a', sample({ current: 0, stat: null }), t + 1000);
  assert.deepEqual(events(), ['oom_predicted /a', 'oom_predicted_cleared /a']);
  assert.equal(await gauge('oomwatch_cgroup_memory_seconds_to_limit', { cgroup: '/a' }), undefined);
  assert.equal(await gauge('oomwatch_cgroup_memory_warning', { cgroup: '/a', signal: 'oom_predicted' }), undefined);
});

test('page cache filling the limit is no danger: usage at the limit, unreclaimable flat', () => {
  const { w, events } = rig();
  for (let t = 0; t < 60; t++) {
    // Re-reading a file: cache near the limit, the reader's anon jitters; failcnt rises as reclaim runs.
    w.observe('/c', sample({ current: 63 * M, failcnt: t * 50, stat: v1Stat({ rss: (t % 2) * 512 * 1024 + M, cache: 62 * M, limit: LIMIT }) }), t * 1000);
  }
  assert.deepEqual(events(), []);
});

test('cgroups without a limit in effect cost nothing: no state, no series; the v2 limit is the nearest limited ancestor\'s', async () => {
  const { w, events, gauge } = rig(2);
  const v2 = (anon: number) => `anon ${anon}\nfile 0\nkernel 0\nshmem 0\nslab_reclaimable 0\n`;
  w.observe('/free', sample({ current: 10 * M, max: null, stat: v2(10 * M) }), 0);
  assert.equal(await gauge('oomwatch_cgroup_memory_unreclaimable_bytes', { cgroup: '/free' }), undefined);
  w.observe('/pod', sample({ current: 0, max: 32 * M, stat: null }), 0);
  w.observe('/pod/c', sample({ current: 10 * M, max: null, stat: v2(10 * M) }), 0);
  assert.equal(await gauge('oomwatch_cgroup_memory_limit_in_effect_bytes', { cgroup: '/pod/c' }), 32 * M);
  assert.equal(await gauge('oomwatch_cgroup_memory_unreclaimable_bytes', { cgroup: '/pod/c' }), 10 * M);
  w.observe('/pod/c', sample({ current: 14 * M, max: null, stat: v2(14 * M) }), 1000);
  w.observe('/pod/c', sample({ current: 18 * M, max: null, stat: v2(18 * M) }), 2000);
  assert.deepEqual(events(), ['oom_predicted /pod/c'], "against the parent's 32 MiB: 14 MiB at 4 MiB/s is 3.5 s");
  w.forget('/pod/c');
  assert.equal(await gauge('oomwatch_cgroup_memory_unreclaimable_bytes', { cgroup: '/pod/c' }), undefined, 'series go with the cgroup');
});

test('pinned at the limit and reclaiming with most of it unreclaimable: limit_reclaim after the duration', () => {
  const { w, events, warned } = rig();
  for (let t = 0; t <= 12; t++) {
    w.observe('/p', sample({ current: LIMIT, failcnt: t * 20, stat: v1Stat({ rss: 50 * M, cache: 14 * M, limit: LIMIT }) }), t * 1000);
  }
  assert.deepEqual(events(), ['limit_reclaim /p']);
  assert.equal(warned[0]?.['reclaims_per_second'], 20);
  assert.equal(warned[0]?.['counter'], 'memory.failcnt');
  w.observe('/p', sample({ current: LIMIT, failcnt: 240, stat: v1Stat({ rss: 50 * M, cache: 14 * M, limit: LIMIT }) }), 13_000);
  w.observe('/p', sample({ current: LIMIT, failcnt: 240, stat: v1Stat({ rss: 50 * M, cache: 14 * M, limit: LIMIT }) }), 20_000);
  assert.deepEqual(events(), ['limit_reclaim /p', 'limit_reclaim_cleared /p'], 'the counter stopped: cleared');
});

test('v2 pressure: above avg10 for the duration and not falling', () => {
  const { w, events, warned } = rig(2);
  const stat = 'anon 1048576\nfile 0\nkernel 0\nshmem 0\nslab_reclaimable 0\n';
  const psi = (avg10: number, avg60: number): MemoryPressure => ({ some: { avg10, avg60, avg300: 0, total_us: 0 }, full: { avg10: 0, avg60: 0, avg300: 0, total_us: 0 } });
  w.observe('/q', sample({ current: M, stat, pressure: psi(30, 10) }), 0);
  w.observe('/q', sample({ current: M, stat, pressure: psi(30, 20) }), 5000);
  w.observe('/q', sample({ current: M, stat, pressure: psi(25, 30) }), 10_000);
  assert.deepEqual(events(), [], 'falling (avg10 < avg60): not yet');
  w.observe('/q', sample({ current: M, stat, pressure: psi(35, 30) }), 11_000);
  assert.deepEqual(events(), ['memory_pressure /q']);
  assert.equal(warned[0]?.['kind'], 'some');
  w.observe('/q', sample({ current: M, stat, pressure: psi(5, 30) }), 12_000);
  assert.deepEqual(events(), ['memory_pressure /q', 'memory_pressure_cleared /q']);
});
