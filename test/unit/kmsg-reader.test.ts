/**
 * The reader's handling of what it reads, without root: the device is replaced by a FIFO (the
 * reader splits what one read() of a FIFO returns into records, as /dev/kmsg returns one record per
 * read()), so the test can feed malformed records and SEQ gaps the kernel would never produce.
 * Skipping to a start position needs the device's backlog of one record per read(), which a FIFO
 * cannot model: the real tests cover it.
 * The real device is covered by test/real/kmsg-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openKmsgReader, readWithoutStack, type KmsgEvent } from '../../src/kmsg/reader.js';
import { chunkSeq } from '../../src/kmsg/notifier.js';
import { OomwatchError, ParseError } from '../../src/errors.js';
import { until } from '../helpers/until.js';

const BOOT = '0b9f6d3e-1c2a-4f5b-8e7d-6a5b4c3d2e1f';

function fixture(t: { after: (fn: () => void) => void }): { proc: string; fifo: string } {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-kmsg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proc = join(dir, 'proc');
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
  const fifo = join(dir, 'kmsg');
  const r = spawnSync('mkfifo', [fifo]);
  assert.equal(r.status, 0, `mkfifo failed: ${r.stderr}`);
  return { proc, fifo };
}

function fdsPointingAt(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // the fd readdir itself used, already closed
    }
  }).length;
}

test('reader over a FIFO: records in order, malformed ones reported and skipped, gaps and foreign records counted', async (t) => {
  const { proc, fifo } = fixture(t);
  const events: KmsgEvent[] = [];
  const reader = await openKmsgReader({ roots: { kmsg: fifo, proc }, from: 'start', onEvents: (e) => events.push(...e) });
  t.after(() => reader.stop());
  // A FIFO is not the kernel's device: nothing can wake the reader, it polls.
  assert.equal(reader.wakeMode, 'poll');
  const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(w));
  const feed = [
    '6,100,1000,-;first\n',
    '6,101,1001,-;second\n SUBSYSTEM=usb\n',
    'garbage without a prefix\n',
    '6,103,1003,-;after the malformed one\n',
    '14,104,1004,-;written by userspace\n',
    '3,110,1010,-;after a gap of five\n',
  ];
  for (const [i, rec] of feed.entries()) {
    writeSync(w, rec);
    // One write per read(): wait until this one was delivered before writing the next.
    await until(`item ${i}`, () => events.filter((e) => e.type !== 'lost').length === i + 1);
  }
  const kinds = events.map((e) => (e.type === 'record' ? e.record.seq : e.type));
  assert.deepEqual(kinds, [100, 101, 'malformed', 103, 104, 'lost', 110]);
  const malformed = events.find((e) => e.type === 'malformed');
  assert.ok(malformed?.type === 'malformed');
  assert.equal(malformed.raw, 'garbage without a prefix\n');
  assert.ok(malformed.error instanceof ParseError);
  const lost = events.find((e) => e.type === 'lost');
  assert.deepEqual(lost, { type: 'lost', reason: 'gap', count: 5, fromSeq: 105, nextSeq: 110 });
  const second = events[1];
  assert.ok(second?.type === 'record');
  assert.deepEqual(second.record.dict, { SUBSYSTEM: 'usb' });
  const s = reader.stats();
  assert.equal(s.records, 5);
  assert.equal(s.malformed, 1);
  assert.equal(s.foreign, 1);
  assert.equal(s.lost, 5);
  assert.equal(s.lostGap, 5);
  assert.equal(s.overruns, 0);
  assert.deepEqual(reader.cursor(), { bootId: BOOT, seq: 110 });
});

test('reader over a FIFO: several records in one read() are split into records, continuation lines kept with theirs', async (t) => {
  const { proc, fifo } = fixture(t);
  const events: KmsgEvent[] = [];
  const reader = await openKmsgReader({ roots: { kmsg: fifo, proc }, from: 'start', onEvents: (e) => events.push(...e) });
  t.after(() => reader.stop());
  const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(w));
  // What a loaded machine does to a test feeding one record per write: two writes read at once.
  writeSync(w, '6,200,2000,-;one\n SUBSYSTEM=usb\n DEVICE=c189:1\n3,201,2001,-;two\n6,202,2002,-;three\n');
  await until('three records', () => events.filter((e) => e.type === 'record').length === 3);
  assert.deepEqual(
    events.map((e) => (e.type === 'record' ? [e.record.seq, e.record.message, e.record.dict] : e.type)),
    [
      [200, 'one', { SUBSYSTEM: 'usb', DEVICE: 'c189:1' }],
      [201, 'two', {}],
      [202, 'three', {}],
    ],
  );
  assert.equal(reader.stats().malformed, 0);
});

test('a cursor from another boot starts from the start, and says so', async (t) => {
  const { proc, fifo } = fixture(t);
  const stale = { bootId: '11111111-2222-3333-4444-555555555555', seq: 99 };
  const reader = await openKmsgReader({ roots: { kmsg: fifo, proc }, from: stale, onEvents: () => undefined });
  t.after(() => reader.stop());
  assert.deepEqual(reader.position, { from: 'start', staleCursor: stale });
  assert.equal(reader.cursor(), undefined);
});

test('stop() closes the fd and delivers nothing more', async (t) => {
  const { proc, fifo } = fixture(t);
  const events: KmsgEvent[] = [];
  const before = fdsPointingAt(fifo);
  const reader = await openKmsgReader({ roots: { kmsg: fifo, proc }, from: 'start', onEvents: (e) => events.push(...e) });
  assert.equal(fdsPointingAt(fifo), before + 1);
  const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(w, '6,1,1,-;one\n');
  await until('one', () => events.length === 1);
  closeSync(w);
  await reader.stop();
  assert.equal(fdsPointingAt(fifo), before);
  await reader.done;
  await reader.stop(); // idempotent
  assert.equal(events.length, 1);
});

test('setPollInterval() applies while running and rejects nonsense', async (t) => {
  const { proc, fifo } = fixture(t);
  const events: KmsgEvent[] = [];
  const reader = await openKmsgReader({ roots: { kmsg: fifo, proc }, from: 'start', onEvents: (e) => events.push(...e) });
  t.after(() => reader.stop());
  const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => closeSync(w));
  writeSync(w, '6,1,1,-;first\n');
  await until('the first record', () => events.length === 1);
  reader.setPollInterval(0.5);
  writeSync(w, '6,2,2,-;after a new interval\n');
  await until('the next record', () => events.length === 2);
  assert.throws(() => reader.setPollInterval(0), RangeError);
  assert.throws(() => reader.setPollInterval(Number.NaN), RangeError);
  await assert.rejects(
    openKmsgReader({ roots: { kmsg: fifo, proc }, pollIntervalMs: -1, onEvents: () => undefined }),
    RangeError,
  );
});

test('a missing device is an EIO OomwatchError naming the path', async (t) => {
  const { proc } = fixture(t);
  await assert.rejects(
    openKmsgReader({ roots: { kmsg: '/nonexistent/kmsg', proc }, onEvents: () => undefined }),
    (err: unknown) => err instanceof OomwatchError && err.code === 'EIO' && err.message.includes('/nonexistent/kmsg'),
  );
});

test('a read that finds nothing new throws EAGAIN without a stack trace, and leaves Error.stackTraceLimit as it was', (t) => {
  const { fifo } = fixture(t);
  const rd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wr = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => {
    closeSync(wr);
    closeSync(rd);
  });
  const buf = Buffer.alloc(64);
  const before = Error.stackTraceLimit;
  assert.throws(
    () => readWithoutStack(rd, buf),
    (err: NodeJS.ErrnoException) => err.code === 'EAGAIN' && !(err.stack ?? '').includes('\n    at '),
  );
  assert.equal(Error.stackTraceLimit, before);
  assert.match(new Error('after').stack ?? '', /\n    at /, 'errors made afterwards have their stack');
  writeSync(wr, 'x\n');
  assert.equal(readWithoutStack(rd, buf), 2);
  assert.equal(Error.stackTraceLimit, before);
});

test("the notifier's SEQ of a record it read: from the record's prefix, -1 when it has none", () => {
  const seq = (s: string): number => chunkSeq(Buffer.from(s, 'latin1'));
  assert.equal(seq('6,1234,5678,-;Memory cgroup out of memory\n'), 1234);
  assert.equal(seq('14,0,1,-;x\n'), 0);
  assert.equal(seq('1,9007199254740991,1,-;x\n'), 9007199254740991);
  assert.equal(seq(''), -1);
  assert.equal(seq('6;1234,5678,-;x\n'), -1, 'no comma after PRIO');
  assert.equal(seq('6,,5678,-;x\n'), -1, 'no SEQ');
  assert.equal(seq('6,12a4,5678,-;x\n'), -1, 'SEQ not all digits');
  assert.equal(seq('6,1234'), -1, 'cut after SEQ');
  assert.equal(seq('12345,1,2,-;x\n'), -1, 'PRIO longer than 4 digits');
  assert.equal(seq('6,12345678901234567,1,-;x\n'), -1, 'SEQ longer than 16 digits');
});
