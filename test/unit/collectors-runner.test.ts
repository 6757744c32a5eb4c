import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { CollectorRunner } from '../../src/collectors/runner.js';
import type { Collector } from '../../src/collectors/collector.js';

function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

async function value(registry: Registry, name: string, collector: string): Promise<number | undefined> {
  return (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels['collector'] === collector)?.value;
}

test('each collector gets its success and duration; a throwing one shows 0, fails nothing else, and is logged once per error', async () => {
  const registry = new Registry();
  const { log, lines } = capture();
  let error: string | null = 'cannot read /proc/vmstat';
  const ran: string[] = [];
  const good: Collector = { name: 'good', update: () => void ran.push('good') };
  const bad: Collector = {
    name: 'bad',
    update: () => {
      ran.push('bad');
      if (error !== null) throw new Error(error);
    },
  };
  const sliced: Collector = { name: 'sliced', update: () => assert.fail('update() of a sliced collector'), updateInSlices: async () => void ran.push('sliced') };
  const runner = new CollectorRunner(registry, log);
  runner.add(good, bad, sliced);
  const failed = () => lines.filter((l) => l['event'] === 'collector_failed');

  for (let i = 0; i < 3; i++) assert.equal(await runner.run(i, () => false), true);
  assert.deepEqual(ran, ['good', 'bad', 'sliced', 'good', 'bad', 'sliced', 'good', 'bad', 'sliced'], 'all run, in order, each poll');
  assert.equal(await value(registry, 'oomwatch_collector_success', 'good'), 1);
  assert.equal(await value(registry, 'oomwatch_collector_success', 'bad'), 0);
  assert.equal(await value(registry, 'oomwatch_collector_success', 'sliced'), 1);
  for (const c of ['good', 'bad', 'sliced']) {
    const d = await value(registry, 'oomwatch_collector_duration_seconds', c);
    assert.ok(d !== undefined && d >= 0, `${c} has a duration`);
  }
  assert.equal(failed().length, 1, 'three failures with one error: one log line');
  assert.equal(failed()[0]?.['collector'], 'bad');
  assert.equal(failed()[0]?.['err'], 'cannot read /proc/vmstat');
  assert.deepEqual(runner.status(), { good: { ok: true, error: null }, bad: { ok: false, error: 'cannot read /proc/vmstat' }, sliced: { ok: true, error: null } });

  error = 'another error';
  await runner.run(3, () => false);
  assert.equal(failed().length, 2, 'a different error is logged');
  error = null;
  await runner.run(4, () => false);
  await runner.run(5, () => false);
  assert.equal(lines.filter((l) => l['event'] === 'collector_recovered').length, 1, 'the recovery is logged once');
  assert.equal(await value(registry, 'oomwatch_collector_success', 'bad'), 1);
  error = 'another error';
  await runner.run(6, () => false);
  assert.equal(failed().length, 3, 'the same error after a recovery starts a new streak');
});

test('a run stopped mid-way says so and runs nothing after', async () => {
  let stopping = false;
  const ran: string[] = [];
  const runner = new CollectorRunner(new Registry(), capture().log);
  runner.add({ name: 'a', update: () => void (ran.push('a'), (stopping = true)) }, { name: 'b', update: () => void ran.push('b') });
  assert.equal(await runner.run(0, () => stopping), false);
  assert.deepEqual(ran, ['a']);
});
