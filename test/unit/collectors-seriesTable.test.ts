/**
 * SeriesTable reaches prom-client through one undocumented hook (Registry renders a registered
 * object's getForPromString() when it has one). These tests pin that: prom-client must call the
 * hook, and a registry holding a SeriesTable must render the same text as one holding a real
 * prom-client Gauge or Counter with the same series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry, type OpenMetricsContentType } from 'prom-client';
import { SeriesTable } from '../../src/collectors/seriesTable.js';

type Labels = Record<'cgroup' | 'event', string>;

const SERIES: Array<[string, Labels, number]> = [
  ['a', { cgroup: '/batch/worker-1', event: 'oom_kill' }, 3],
  ['b', { cgroup: '/odd "quoted" \\ back\nslash', event: 'max' }, 0],
  ['c', { cgroup: '/', event: 'oom' }, 2 ** 53],
  ['d', { cgroup: '/huge', event: 'high' }, Infinity],
  ['e', { cgroup: '/going', event: 'low' }, 1.5],
];

/** Render one registry holding a SeriesTable and counting the calls of its hook. */
async function renderTable(type: 'gauge' | 'counter', series: typeof SERIES, removed: string[] = []): Promise<{ text: string; hookCalls: number }> {
  const registry = new Registry();
  const table = new SeriesTable<'cgroup' | 'event'>({ name: 'oomwatch_test_family', help: 'A family "with" \\ odd help\nof two lines', type, registers: [registry] });
  for (const [id, labels, value] of series) table.set(id, labels, value);
  for (const id of removed) table.remove(id);
  let hookCalls = 0;
  const hook = table.getForPromString.bind(table);
  table.getForPromString = () => {
    hookCalls++;
    return hook();
  };
  return { text: await registry.metrics(), hookCalls };
}

async function renderPromClient(type: 'gauge' | 'counter', series: typeof SERIES): Promise<string> {
  const registry = new Registry();
  const opts = { name: 'oomwatch_test_family', help: 'A family "with" \\ odd help\nof two lines', labelNames: ['cgroup', 'event'] as const, registers: [registry] };
  const metric = type === 'gauge' ? new Gauge(opts) : new Counter(opts);
  for (const [, labels, value] of series) {
    if (metric instanceof Gauge) metric.set(labels, value);
    else metric.inc(labels, value);
  }
  return registry.metrics();
}

test('prom-client renders a SeriesTable through its getForPromString hook', async () => {
  const { hookCalls } = await renderTable('gauge', SERIES);
  assert.equal(hookCalls, 1, 'Registry.metrics() did not call getForPromString(): the adapter renders through get() and formats labels on every scrape');
});

test('a SeriesTable renders exactly as a prom-client Gauge with the same series', async () => {
  const { text } = await renderTable('gauge', SERIES);
  assert.equal(text, await renderPromClient('gauge', SERIES));
  assert.match(text, /^oomwatch_test_family\{cgroup="\/odd \\"quoted\\" \\\\ back\\nslash",event="max"\} 0$/m);
});

test('a counter SeriesTable renders exactly as a prom-client Counter with the same series', async () => {
  const counters = SERIES.filter(([, , v]) => Number.isFinite(v));
  const { text } = await renderTable('counter', counters);
  assert.equal(text, await renderPromClient('counter', counters));
});

test('a removed series is gone from the text; a series without labels is printed without braces', async () => {
  const { text } = await renderTable('gauge', SERIES, ['b', 'd']);
  assert.equal(text, await renderPromClient('gauge', SERIES.filter(([id]) => id !== 'b' && id !== 'd')));
  const registry = new Registry();
  new SeriesTable<never>({ name: 'oomwatch_test_plain', help: 'no labels', type: 'gauge', registers: [registry] }).set('x', {} as Record<never, string>, 7);
  const plain = new Registry();
  new Gauge({ name: 'oomwatch_test_plain', help: 'no labels', registers: [plain] }).set(7);
  assert.equal(await registry.metrics(), await plain.metrics());
});

test('a SeriesTable refuses an OpenMetrics registry (its counter heads would get _total after the labels)', () => {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  assert.throws(() => new SeriesTable({ name: 'oomwatch_test_om', help: 'h', type: 'counter', registers: [registry as unknown as Registry] }), TypeError);
});
