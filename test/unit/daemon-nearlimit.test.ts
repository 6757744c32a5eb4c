import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { NearLimitWarner } from '../../src/daemon/nearLimit.js';

test('near_limit once when the working set reaches the ratio, cleared only below ratio - hysteresis, then armed again', () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const w = new NearLimitWarner({ workingSetRatio: 0.9, hysteresis: 0.05 }, log);
  const events = () => lines.map((l) => `${String(l['event'])} ${String(l['cgroup'])}`);
  const at = (path: string, pct: number) => w.observe(path, { workingSet: pct, max: 100 });

  at('/a', 89);
  assert.deepEqual(events(), [], 'below the ratio');
  at('/a', 90);
  assert.deepEqual(events(), ['near_limit /a']);
  assert.equal(lines[0]?.['ratio'], 0.9);
  assert.equal(lines[0]?.['limit_bytes'], 100);
  at('/a', 95);
  at('/a', 88);
  at('/a', 85.5);
  at('/a', 92);
  assert.deepEqual(events(), ['near_limit /a'], 'hovering above ratio - hysteresis: no more lines');
  at('/a', 84);
  assert.deepEqual(events(), ['near_limit /a', 'near_limit_cleared /a']);
  at('/a', 91);
  assert.deepEqual(events(), ['near_limit /a', 'near_limit_cleared /a', 'near_limit /a'], 'armed again');

  at('/b', 99);
  w.forget('/b');
  at('/b', 99);
  assert.deepEqual(events().filter((e) => e.endsWith('/b')), ['near_limit /b', 'near_limit /b'], 'a cgroup gone and back starts armed');

  w.observe('/u', { workingSet: 1e12, max: null });
  w.observe('/z', { workingSet: 5, max: 0 });
  assert.equal(events().filter((e) => e.endsWith('/u') || e.endsWith('/z')).length, 0, 'no limit: never near it');

  w.setThresholds({ workingSetRatio: 0.5, hysteresis: 0.1 });
  at('/c', 50);
  assert.equal(events().at(-1), 'near_limit /c', 'new thresholds apply');
});
