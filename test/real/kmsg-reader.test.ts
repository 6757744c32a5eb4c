/**
 * The kmsg reader against the real /dev/kmsg. Other tests write to the kernel log at the same time:
 * every assertion filters by this process's own markers (`oomwatch-test kmsg <pid>-<n> ...`) or its
 * own hog's pid, or checks an invariant that holds whatever else is logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdtempSync, openSync, readSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { realKernel } from '../helpers/privileged.js';
import { HOG, exited, makeV1Cgroup, spawnInCgroup } from '../helpers/v1cgroup.js';
import { openKmsgReader, type KmsgEvent, type KmsgReader, type KmsgStart } from '../../src/kmsg/reader.js';
import { parseKmsgRecord, type KmsgRecord } from '../../src/kmsg/record.js';
import { readCursor, saveCursor } from '../../src/kmsg/cursor.js';
import { readBootId } from '../../src/kmsg/bootId.js';
import { DEFAULT_ROOTS } from '../../src/roots.js';
import { until } from '../helpers/until.js';

let markerCount = 0;
/** A marker unique to this process and call. */
function marker(label: string): string {
  markerCount += 1;
  return `oomwatch-test kmsg ${process.pid}-${markerCount} ${label}`;
}

/** Write one record as userspace does; a fresh open per write (printk_devkmsg=ratelimit is per file). */
function writeKmsg(text: string): void {
  const fd = openSync('/dev/kmsg', 'w');
  try {
    writeSync(fd, `${text}\n`);
  } finally {
    closeSync(fd);
  }
}

interface Session {
  reader: KmsgReader;
  events: KmsgEvent[];
  records(): KmsgRecord[];
  find(text: string): KmsgRecord | undefined;
}

async function session(t: { after: (fn: () => Promise<void>) => void }, from: KmsgStart): Promise<Session> {
  const events: KmsgEvent[] = [];
  const reader = await openKmsgReader({ roots: DEFAULT_ROOTS, from, onEvents: (e) => events.push(...e) });
  t.after(() => reader.stop());
  const records = (): KmsgRecord[] => events.flatMap((e) => (e.type === 'record' ? [e.record] : []));
  return { reader, events, records, find: (text) => records().find((r) => r.message === text) };
}

test('a record written by root to /dev/kmsg comes back with facility 1 and is counted as foreign', realKernel(), async (t) => {
  const s = await session(t, 'end');
  const before = s.reader.stats().foreign;
  const m = marker('foreign');
  writeKmsg(m);
  await until('the marker', () => s.find(m) !== undefined);
  const r = s.find(m)!;
  assert.equal(r.facility, 1, 'userspace writes get LOG_USER');
  assert.ok(r.prio >= 8, 'PRIO >= 8');
  assert.ok(s.reader.stats().foreign >= before + 1);
  assert.equal(s.reader.stats().malformed, 0);
});

/**
 * Block this event loop (spawnSync) while a child floods /dev/kmsg with ~900-byte records until
 * the record after `afterSeq` is gone from the 128 KiB buffer: a reader (and its notifier) that
 * had read up to `afterSeq` gets EPIPE on its next read. Returns how many records it took.
 */
function stallWhileFlooding(afterSeq: number): number {
  const flood = `
    const fs = require('fs');
    const buf = Buffer.alloc(16384);
    const oldest = () => { const fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try { const t = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, null)); return Number(t.split(',')[1]); } finally { fs.closeSync(fd); } };
    let n = 0;
    while (oldest() <= ${afterSeq} + 1 && n < 3000) {
      const fd = fs.openSync('/dev/kmsg', 'w');
      fs.writeSync(fd, 'oomwatch-test kmsg ${process.pid} stall flood ' + n++ + ' ' + 'x'.repeat(850) + '\\n');
      fs.closeSync(fd);
    }
    process.stdout.write(String(n));`;
  const r = spawnSync(process.execPath, ['-e', flood], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const n = Number(r.stdout);
  assert.ok(n < 3000, 'the buffer never overran');
  return n;
}

// The notifier rests on Node's internal pipe_wrap binding: this test says, on each Node the suite
// runs on (test/run.mjs), that the reader is woken by the kernel there.
test(`on Node ${process.versions.node}, on /dev/kmsg the kernel wakes the reader: no timer polls, yet each marker arrives`, realKernel(), async (t) => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const kmsgFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/kmsg';
    } catch {
      return false; // the fd of the readdir itself, closed by now
    }
  }).length;
  const timersBefore = timers();
  const fdsBefore = kmsgFds();
  const s = await session(t, 'end');
  await new Promise((r) => setImmediate(r)); // past the first drain, after which a poller arms its timer
  assert.equal(timers(), timersBefore, 'the reader keeps a timer: it polls');
  assert.equal(kmsgFds(), fdsBefore + 2, 'the reader fd and the notifier fd');
  assert.equal(s.reader.wakeMode, 'notify', `on Node ${process.versions.node} the reader polls: ${s.reader.notifierError}`);
  assert.equal(s.reader.notifierError, undefined);
  // Spaced out, so that the reader is idle (waiting in epoll, not draining) when each one comes.
  for (let i = 0; i < 5; i++) {
    const m = marker(`wake ${i}`);
    writeKmsg(m);
    await until(`marker ${i}`, () => s.find(m) !== undefined);
    // A fixed pause is the point: the reader must be idle in epoll when the next marker comes.
    await new Promise((r) => setTimeout(r, 30));
  }
  await s.reader.stop();
  assert.equal(kmsgFds(), fdsBefore, 'stop() closed both fds');
});

test('a burst read in one drain: the notifier then wakes the reader once per record it read already, and those wakeups read nothing', realKernel(), async (t) => {
  const s = await session(t, 'end');
  await new Promise((r) => setImmediate(r));
  assert.equal(s.reader.wakeMode, 'notify', s.reader.notifierError);
  const before = s.reader.stats().emptyReads;
  // 100 records logged while this event loop is busy: the first wakeup drains them all.
  const ms: string[] = [];
  for (let i = 0; i < 100; i++) {
    ms.push(marker(`burst ${i}`));
    writeKmsg(ms[i]!);
  }
  await until('the last marker', () => s.find(ms[99]!) !== undefined);
  // The notifier reads in log order: the wakeup for this one comes after its 100 for the burst.
  const end = marker('after the burst');
  writeKmsg(end);
  await until('the marker after the burst', () => s.find(end) !== undefined);
  const empty = s.reader.stats().emptyReads - before;
  // Only wakeups for records not yet read drain: a few for what others log meanwhile, not one per marker.
  assert.ok(empty < 20, `${empty} wakeups read nothing for 100 records`);
  t.diagnostic(`${empty} empty reads for 100 records`);
});

test('the event loop blocked while the ring buffer overruns: the loss is counted, the notifier recovers', realKernel(), async (t) => {
  const s = await session(t, 'end');
  const start = marker('stall start');
  writeKmsg(start);
  await until('the start marker', () => s.find(start) !== undefined);
  const before = s.reader.cursor()!.seq;
  const flooded = stallWhileFlooding(before);
  const after = marker('stall end');
  writeKmsg(after);
  await until('the marker after the stall', () => s.find(after) !== undefined);
  const st = s.reader.stats();
  assert.ok(st.overruns >= 1, 'EPIPE was seen');
  assert.ok(st.lostOverrun > 0, 'the overrun lost records');
  assert.ok(st.notifierRestarts >= 1, 'the notifier overran too and was reopened');
  assert.equal(s.reader.wakeMode, 'notify');
  // Woken again after the restart, not by chance: one more marker, with the loop idle.
  const again = marker('after recovery');
  writeKmsg(again);
  await until('a marker after the recovery', () => s.find(again) !== undefined);
  // Every SEQ since the start marker is accounted for.
  const end = s.reader.cursor()!.seq;
  const mine = s.events.filter((e) => e.type === 'record' && e.record.seq > before).length;
  const lost = s.events.filter((e) => e.type === 'lost').reduce((n, e) => n + (e.type === 'lost' ? e.count : 0), 0);
  assert.equal(mine + lost, end - before);
  t.diagnostic(`flood of ${flooded} records; lost ${lost}; notifier restarts ${st.notifierRestarts}`);
});

test('a notifier that keeps overrunning gives way to polling, which says why and still delivers', realKernel(), async (t) => {
  const s = await session(t, 'end');
  for (let i = 0; i < 6 && s.reader.wakeMode === 'notify'; i++) {
    // Reader and notifier both at the end of the log, then both overrun.
    const m = marker(`give up ${i}`);
    writeKmsg(m);
    await until(`marker ${i}`, () => s.find(m) !== undefined);
    const restarts = s.reader.stats().notifierRestarts;
    stallWhileFlooding(s.reader.cursor()!.seq);
    // The notifier's EPIPE is handled in the loop: it restarts, or gives way to polling.
    await until(`the notifier's overrun ${i}`, () => s.reader.stats().notifierRestarts > restarts || s.reader.wakeMode === 'poll');
  }
  assert.equal(s.reader.wakeMode, 'poll');
  assert.match(s.reader.notifierError ?? '', /the notifier failed 6 times within 10 s, last: .*EPIPE/);
  assert.equal(s.reader.stats().notifierRestarts, 6);
  const last = marker('polled');
  writeKmsg(last);
  await until('a marker, polled', () => s.find(last) !== undefined);
});

test("starting from 'end' replays nothing old and delivers a marker written after start", realKernel(), async (t) => {
  const old = marker('before start');
  writeKmsg(old);
  const s = await session(t, 'end');
  const position = s.reader.position;
  assert.ok(position?.from === 'end' && position.skipped > 0, 'the old marker at least was skipped');
  const start = s.reader.cursor();
  assert.ok(start !== undefined);
  const fresh = marker('after start');
  writeKmsg(fresh);
  await until('the new marker', () => s.find(fresh) !== undefined);
  assert.equal(s.find(old), undefined, 'the marker written before start was replayed');
  // Nothing between the last skipped record and the first delivered one was lost.
  assert.equal(s.records()[0]?.seq, start.seq + 1);
  assert.ok(s.records().every((r) => r.seq > start.seq));
  assert.equal(s.reader.stats().lost, 0);
});

test("starting from 'start' delivers the oldest record still in the buffer first", realKernel(), async (t) => {
  // The oldest record, as a fresh open of the device sees it.
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  let oldest: number;
  try {
    oldest = parseKmsgRecord(buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, null))).seq;
  } finally {
    closeSync(fd);
  }
  const m = marker('from start');
  writeKmsg(m);
  const s = await session(t, 'start');
  await until('the marker', () => s.find(m) !== undefined);
  const first = s.records()[0]!.seq;
  // Others may log so much meanwhile that the oldest record moved on, never back.
  assert.ok(first >= oldest, `first ${first} < oldest ${oldest}`);
  assert.ok(first < s.find(m)!.seq);
});

test('resuming from a saved cursor delivers exactly the records after it', realKernel(), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-kmsg-cursor-'));
  t.after(async () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kmsg.cursor');
  const first = await session(t, 'end');
  const markers = [1, 2, 3, 4, 5, 6].map((i) => marker(`resume ${i}`));
  for (const m of markers) writeKmsg(m);
  await until('all markers', () => markers.every((m) => first.find(m) !== undefined));
  const third = first.find(markers[2]!)!;
  await saveCursor(file, { bootId: readBootId(DEFAULT_ROOTS), seq: third.seq });
  await first.reader.stop();

  const cursor = await readCursor(file);
  assert.ok(cursor !== undefined);
  const second = await session(t, cursor);
  assert.equal(second.reader.position?.from, 'cursor');
  await until('the last marker again', () => second.find(markers[5]!) !== undefined);
  const got = second.records();
  assert.equal(got[0]?.seq, cursor.seq + 1, 'the first record delivered is the one right after the cursor');
  const mine = got.filter((r) => markers.includes(r.message)).map((r) => r.message);
  assert.deepEqual(mine, markers.slice(3));
  assert.equal(second.reader.stats().lost, 0);
});

test('a real OOM kill in a v1 cgroup is read as a level-3 kernel record naming the hog', realKernel(), async (t) => {
  const s = await session(t, 'end');
  const cg = makeV1Cgroup('kmsg-oom', 64 * 1024 * 1024);
  t.after(() => cg.cleanup());
  const hog = spawnInCgroup(cg.dir, HOG);
  const pid = hog.pid;
  assert.ok(pid !== undefined);
  const r = await exited(hog);
  assert.equal(r.signal, 'SIGKILL');
  const kill = new RegExp(`Killed process ${pid} \\(`);
  await until('the kill record', () => s.records().some((rec) => kill.test(rec.message)));
  const rec = s.records().find((x) => kill.test(x.message))!;
  assert.equal(rec.facility, 0, 'the kernel wrote it');
  assert.equal(rec.level, 3);
  assert.match(rec.message, /^Memory cgroup out of memory: Killed process \d+ \(dd\)/);
});

test('overrunning the ring buffer while the event loop is busy is detected and counted', realKernel(), async (t) => {
  const s = await session(t, 'end');
  const baseline = s.reader.cursor()?.seq;
  assert.ok(baseline !== undefined);
  const start = marker('flood start');
  writeKmsg(start);
  await until('the start marker', () => s.find(start) !== undefined);
  const pausedAt = s.reader.cursor()!.seq;

  // Flood with ~900-byte records until the record the reader would read next is gone from the
  // buffer: a fresh open of /dev/kmsg starts at the oldest record. This overruns the 128 KiB buffer
  // by as little as possible (other people's records go too). The loop is synchronous: the reader,
  // which reads on the event loop, reads nothing until it ends.
  const pad = 'x'.repeat(850);
  const flood: string[] = [];
  const buf = Buffer.alloc(16384);
  const oldestSeq = (): number => {
    const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return parseKmsgRecord(buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, null))).seq;
    } finally {
      closeSync(fd);
    }
  };
  while (oldestSeq() <= pausedAt + 1) {
    assert.ok(flood.length < 2000, 'the buffer never overran: is it larger than 1.5 MiB?');
    const m = marker(`flood ${flood.length} ${pad}`);
    flood.push(m);
    writeKmsg(m);
  }
  const oldestAfterFlood = oldestSeq();
  const last = flood[flood.length - 1]!;
  await until('the last flood marker', () => s.find(last) !== undefined);

  const st = s.reader.stats();
  assert.ok(st.overruns >= 1, 'EPIPE was seen');
  assert.ok(st.lostOverrun > 0);
  const loss = s.events.find((e) => e.type === 'lost' && e.reason === 'overrun');
  assert.ok(loss?.type === 'lost');
  // The hole starts right after the last record read before the pause and ends at the oldest
  // record that survived, which is at least the oldest seen right after the flood.
  assert.equal(loss.fromSeq, pausedAt + 1);
  assert.ok(loss.nextSeq >= oldestAfterFlood);
  assert.equal(loss.count, loss.nextSeq - loss.fromSeq);
  // The flood markers that were delivered are a tail of the flood; the ones before it were lost
  // (usually the first one at least; not necessarily, if others logged right after the pause).
  const delivered = flood.map((m) => s.find(m) !== undefined);
  const k = delivered.indexOf(true);
  assert.ok(k >= 0 && delivered.slice(k).every(Boolean), 'a flood marker after the hole is missing');
  assert.ok(loss.count >= k);
  t.diagnostic(`flood: ${flood.length} records, first ${k} lost; overrun lost ${loss.count} records (seq ${loss.fromSeq}..${loss.nextSeq - 1})`);
  // Every SEQ since the start position is accounted for: read, malformed or lost.
  const end = s.reader.cursor()!.seq;
  assert.equal(st.records + st.malformed + st.lost, end - baseline);
});
