/**
 * Wall-clock times: the kernel timestamp plus the boot's offset (kmsg/wallClock.ts), and a text
 * line's own clock (logfmt/clock.ts) in each form that prints one. Local forms are read in the
 * zone TZ names; these tests run the parser in UTC and in a fixed +01:00 zone through TZ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killTime, parseRfc3339Us, rfc3339Us } from '../../src/kmsg/wallClock.js';
import { lineWallUs, type ClockContext } from '../../src/logfmt/clock.js';
import { detectLine, newLogLine } from '../../src/logfmt/line.js';

test('rfc3339Us: UTC with six fraction digits; parseRfc3339Us reads it back, and offsets', () => {
  assert.equal(rfc3339Us(1_796_362_058_000_937), '2026-12-04T05:27:38.000937Z');
  assert.equal(rfc3339Us(0), '1970-01-01T00:00:00.000000Z');
  assert.equal(parseRfc3339Us('2026-12-04T05:27:38.000937Z'), 1_796_362_058_000_937);
  assert.equal(parseRfc3339Us('2026-12-04T06:27:38.000937+01:00'), 1_796_362_058_000_937);
  assert.equal(parseRfc3339Us('2026-12-04T06:27:38,000937123+0100'), 1_796_362_058_000_937);
  assert.equal(parseRfc3339Us('2026-12-04 05:27:38Z'), 1_796_362_058_000_000);
  for (const bad of ['2026-12-04', '2026-12-04T05:27:38', 'yesterday', '2026-13-04T05:27:38Z', '']) {
    assert.equal(parseRfc3339Us(bad), undefined, bad);
  }
});

test('killTime: offset + kernel timestamp; null when either is unknown', () => {
  const boot = parseRfc3339Us('2026-11-28T05:20:38Z') as number;
  assert.equal(killTime(413_084_460, boot), '2026-11-28T05:27:31.084460Z');
  assert.equal(killTime(null, boot), null);
  assert.equal(killTime(413_084_460, null), null);
  assert.equal(killTime(0, boot), '2026-11-28T05:20:38.000000Z');
});

const REF: ClockContext = { referenceMs: Date.parse('2026-12-01T00:00:00Z') };

function wall(line: string, ctx: ClockContext = REF): string | null {
  const info = newLogLine();
  detectLine(line, info);
  const us = lineWallUs(line, info, ctx);
  return us < 0 ? null : rfc3339Us(us);
}

/** Run `f` with the process's zone set to `tz` (Node follows assignments to process.env.TZ). */
function inZone<T>(tz: string, f: () => T): T {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

test('ISO forms carry their zone: the same instant whatever the local zone', () => {
  for (const tz of ['UTC', 'Etc/GMT-1', 'America/New_York']) {
    inZone(tz, () => {
      assert.equal(wall('2026-11-28T05:26:58,123456+00:00 Memory cgroup out of memory: Killed process 1 (dd)'), '2026-11-28T05:26:58.123456Z', tz);
      assert.equal(wall('2026-11-28T06:26:58+0100 host kernel: Memory cgroup out of memory: Killed process 1 (dd)'), '2026-11-28T05:26:58.000000Z', tz);
      assert.equal(wall('2026-11-28T05:26:58.5Z host kernel: x'), '2026-11-28T05:26:58.500000Z', tz);
    });
  }
});

test('dmesg -T, dmesg -x -T, journal short and short-precise are local time', () => {
  const lines = [
    '[Sat Nov 28 05:26:58 2026] Memory cgroup out of memory: Killed process 1 (dd)',
    'kern  :err   : [Sat Nov 28 05:26:58 2026] Memory cgroup out of memory: Killed process 1 (dd)',
    'Nov 28 05:26:58 host kernel: Memory cgroup out of memory: Killed process 1 (dd)',
    'Nov 28 05:26:58.000937 host kernel: Memory cgroup out of memory: Killed process 1 (dd)',
    'Nov  8 05:26:58 host kernel: x',
  ];
  assert.deepEqual(inZone('UTC', () => lines.map((l) => wall(l))), [
    '2026-11-28T05:26:58.000000Z', '2026-11-28T05:26:58.000000Z', '2026-11-28T05:26:58.000000Z',
    '2026-11-28T05:26:58.000937Z', '2026-11-08T05:26:58.000000Z',
  ]);
  assert.deepEqual(inZone('Etc/GMT-1', () => lines.map((l) => wall(l))), [
    '2026-11-28T04:26:58.000000Z', '2026-11-28T04:26:58.000000Z', '2026-11-28T04:26:58.000000Z',
    '2026-11-28T04:26:58.000937Z', '2026-11-08T04:26:58.000000Z',
  ]);
});

test('a time without a year: the given year, else the year that puts it at or before the reference', () => {
  inZone('UTC', () => {
    const line = 'Dec 31 23:59:59 host kernel: x';
    assert.equal(wall(line, { referenceMs: Date.parse('2027-01-01T00:00:05Z') }), '2026-12-31T23:59:59.000000Z');
    assert.equal(wall(line, { referenceMs: Date.parse('2027-12-31T23:59:59Z') }), '2027-12-31T23:59:59.000000Z');
    // A day of slack for zones and skew: a line a few hours "ahead" of the reference stays in its year.
    assert.equal(wall('Jan  1 03:00:00 host kernel: x', { referenceMs: Date.parse('2027-01-01T00:00:00Z') }), '2027-01-01T03:00:00.000000Z');
    assert.equal(wall(line, { year: 2020, referenceMs: Date.parse('2027-01-01T00:00:05Z') }), '2020-12-31T23:59:59.000000Z');
    // Feb 29 exists only in leap years: in another year the time is unknown, not moved to March.
    assert.equal(wall('Feb 29 12:00:00 host kernel: x', { year: 2028, referenceMs: 0 }), '2028-02-29T12:00:00.000000Z');
    assert.equal(wall('Feb 29 12:00:00 host kernel: x', { year: 2027, referenceMs: 0 }), null);
  });
});

test('forms without a clock of their own have none', () => {
  for (const line of [
    '6,1143,413084460,-;Memory cgroup out of memory: Killed process 1 (dd)',
    '[  413.084460] Memory cgroup out of memory: Killed process 1 (dd)',
    '<3>[  413.084460] Memory cgroup out of memory: Killed process 1 (dd)',
    'kern  :err   : [  413.084460] Memory cgroup out of memory: Killed process 1 (dd)',
    '[  413.084460] host kernel: Memory cgroup out of memory: Killed process 1 (dd)',
    'Memory cgroup out of memory: Killed process 1 (dd)',
  ]) {
    assert.equal(wall(line), null, line);
  }
});
