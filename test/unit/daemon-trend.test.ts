import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterRate, DEFAULT_TREND, SustainedRule, Trend, predictionState, secondsToLimit } from '../../src/daemon/trend.js';

const M = 2 ** 20;

test('a steady leak: least-squares slope, seconds to the limit from the last value', () => {
  const tr = new Trend();
  tr.add(0, 10 * M);
  tr.add(1, 18 * M);
  assert.equal(tr.fit(), undefined, 'two samples are no trend');
  tr.add(2, 26 * M);
  const fit = tr.fit();
  assert.ok(fit?.growing);
  assert.equal(fit.slope, 8 * M);
  assert.equal(fit.r2, 1);
  assert.equal(secondsToLimit(fit, 26 * M, 64 * M), 38 / 8);
  assert.equal(secondsToLimit(fit, 70 * M, 64 * M), 0, 'past the limit: 0, not negative');
});

test('samples older than the window leave the fit', () => {
  const tr = new Trend({ ...DEFAULT_TREND, windowS: 3 });
  for (let t = 0; t <= 5; t++) tr.add(t, 10 * M);
  for (let t = 6; t <= 9; t++) tr.add(t, 10 * M + (t - 5) * 4 * M);
  const fit = tr.fit();
  assert.equal(fit?.samples, 4, 'only the last 3 s (4 samples)');
  assert.equal(fit.slope, 4 * M, 'the flat past does not dilute the slope');
});

test('a drop resets the trend; a flat or jittery series is not growing', () => {
  const tr = new Trend();
  for (let t = 0; t < 5; t++) tr.add(t, 10 * M + t * 8 * M);
  assert.ok(tr.fit()?.growing);
  tr.add(5, 2 * M);
  assert.equal(tr.fit(), undefined, 'after a 40 MiB drop only one sample is left');

  const flat = new Trend();
  for (let t = 0; t < 10; t++) flat.add(t, 20 * M);
  assert.equal(flat.fit()?.growing, false);
  assert.equal(secondsToLimit(flat.fit(), 20 * M, 64 * M), undefined, 'no forecast while not growing');

  // A page-cache reader's processes come and go: ±900 KiB of anon, no trend.
  const jitter = new Trend();
  const seq = [0, 900, 100, 800, 0, 900, 300, 0, 700, 100];
  seq.forEach((k, i) => jitter.add(i * 0.5, 4 * M + k * 1024));
  assert.equal(jitter.fit()?.growing, false);

  // Slow growth below the minimum rise over the window: no forecast.
  const slow = new Trend();
  for (let t = 0; t <= 10; t++) slow.add(t, 20 * M + t * 50 * 1024);
  assert.equal(slow.fit()?.growing, false);
});

test('a leak that starts after a flat stretch is fitted from its start, at its own slope', () => {
  const tr = new Trend();
  for (let t = 0; t < 5; t++) tr.add(t, 0);
  tr.add(5, 8 * M);
  tr.add(6, 16 * M);
  const fit = tr.fit();
  assert.equal(fit?.samples, 3, 'from the last flat sample on');
  assert.equal(fit.slope, 8 * M, 'not diluted by the flat samples before');
  assert.equal(secondsToLimit(fit, 16 * M, 64 * M), 6);
  // A dip inside a rise that stays above the window's start is no new start.
  const dip = new Trend();
  [10, 12, 14, 13.5, 16, 18].forEach((m, i) => dip.add(i, m * M));
  assert.equal(dip.fit()?.samples, 6);
});

test('time going backwards restarts the series', () => {
  const tr = new Trend();
  for (let t = 0; t < 5; t++) tr.add(t, t * 8 * M);
  tr.add(2, 40 * M);
  assert.equal(tr.fit(), undefined);
});

test('prediction hysteresis: fires at the horizon, holds up to horizon × (1 + h), clears without a forecast', () => {
  assert.equal(predictionState(false, 31, 30, 0.5), false);
  assert.equal(predictionState(false, 30, 30, 0.5), true);
  assert.equal(predictionState(true, 44, 30, 0.5), true, 'held within the hysteresis');
  assert.equal(predictionState(true, 46, 30, 0.5), false);
  assert.equal(predictionState(true, undefined, 30, 0.5), false, 'the trend stopped');
});

test('sustained rule: above X for D seconds and not falling; clears below X', () => {
  const r = new SustainedRule({ threshold: 10, forS: 3 });
  assert.equal(r.observe(0, 20, true), undefined);
  assert.equal(r.observe(2, 20, true), undefined, 'only 2 s so far');
  assert.equal(r.observe(3, 20, false), undefined, 'falling: not yet');
  assert.equal(r.observe(4, 25, true), 'fire');
  assert.equal(r.observe(5, 25, true), undefined, 'fires once');
  assert.equal(r.observe(6, 5, true), 'clear');
  assert.equal(r.observe(7, 20, true), undefined, 'a new run starts its own clock');
  assert.equal(r.observe(8, 5, true), undefined, 'a break resets the run');
  assert.equal(r.observe(9, 20, true), undefined);
  assert.equal(r.observe(12, 20, true), 'fire');
});

test('counter rate over a window; a counter going down starts afresh', () => {
  const c = new CounterRate(5);
  assert.equal(c.add(0, 100), undefined);
  assert.equal(c.add(1, 110), 10);
  for (let t = 2; t <= 10; t++) c.add(t, 110 + (t - 1) * 2);
  assert.equal(c.add(11, 130), 2, 'only the last 5 s: 2/s, not the 10/s of the start');
  assert.equal(c.add(12, 3), undefined, 'recreated cgroup: the counter went down');
  assert.equal(c.add(13, 3), 0);
});
