import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { GAUGES_NAMED_TOTAL, registerProcessMetrics } from '../../src/daemon/processMetrics.js';

const types = async (r: Registry) => new Map((await r.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));

test("prom-client's default metrics still include gauges named *_total: the ones registerProcessMetrics removes", async () => {
  const plain = new Registry();
  collectDefaultMetrics({ register: plain });
  const all = await types(plain);
  for (const name of GAUGES_NAMED_TOTAL) assert.equal(all.get(name), 'gauge', `${name}: prom-client no longer makes it a gauge; the removal is not needed for it`);
  const misnamed = [...all].filter(([n, t]) => t === 'gauge' && n.endsWith('_total')).map(([n]) => n).sort();
  assert.deepEqual(misnamed, [...GAUGES_NAMED_TOTAL].sort(), 'every misnamed gauge of prom-client is in the list');
});

test('after registerProcessMetrics no gauge ends in _total, and the rest of the default metrics are there', async () => {
  const r = new Registry();
  registerProcessMetrics(r);
  const all = await types(r);
  assert.deepEqual([...all].filter(([n, t]) => t === 'gauge' && n.endsWith('_total')), []);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_active_handles', 'nodejs_eventloop_lag_seconds']) assert.ok(all.has(name), name);
  const text = await r.metrics();
  for (const name of GAUGES_NAMED_TOTAL) assert.ok(!text.includes(`${name} `), `${name} is not exported`);
});
