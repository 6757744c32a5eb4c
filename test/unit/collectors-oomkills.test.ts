import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { OomKillMetrics } from '../../src/collectors/oomKills.js';
import { killEvent } from '../helpers/events.js';

const kill = killEvent;

async function cgroups(registry: Registry): Promise<string[]> {
  const m = await registry.getSingleMetric('oomwatch_oom_kills_total')!.get();
  return m.values.map((v) => String(v.labels['cgroup'])).sort();
}

test('kill series: a watched cgroup keeps its series, an unwatched one loses it a retention after its last kill', async () => {
  const registry = new Registry();
  const k = new OomKillMetrics(registry, 1000);
  k.kill(kill(1, '/watched'), 0, true);
  k.kill(kill(2, '/excluded'), 0, false);
  k.kill(kill(3, null), 0, false);
  k.kill(kill(4, '/'), 0, false);
  k.expire(900);
  assert.deepEqual(await cgroups(registry), ['', '/', '/excluded', '/watched']);
  k.kill(kill(5, '/excluded'), 900, false); // a later kill starts its retention again
  k.expire(1500);
  assert.deepEqual(await cgroups(registry), ['', '/', '/excluded', '/watched']);
  k.expire(1900);
  assert.deepEqual(await cgroups(registry), ['', '/', '/watched'], 'the root and the unattributed series stay');
  k.expire(60_000);
  assert.deepEqual(await cgroups(registry), ['', '/', '/watched']);
});

test('kill series: an unwatched cgroup that becomes watched keeps its series; a watched one that goes loses it after the retention', async () => {
  const registry = new Registry();
  const k = new OomKillMetrics(registry, 1000);
  k.kill(kill(1, '/late'), 0, false);
  k.cgroupBack('/late'); // discovery found it
  k.kill(kill(2, '/pod'), 0, true);
  k.cgroupGone('/pod', 100);
  k.expire(1050);
  assert.deepEqual(await cgroups(registry), ['/late', '/pod']);
  k.expire(1100);
  assert.deepEqual(await cgroups(registry), ['/late']);
});
