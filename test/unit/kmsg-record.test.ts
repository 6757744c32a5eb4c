import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKernelRecord, newKmsgPrefix, parseKmsgRecord, scanKmsgPrefix, unescapeKmsg } from '../../src/kmsg/record.js';
import { ParseError } from '../../src/errors.js';
import { KernelLogFeeder } from '../../src/logfmt/feed.js';
import { detectLine, newLogLine } from '../../src/logfmt/line.js';
import { OomReportParser } from '../../src/oom/report.js';

test('parses a kernel OOM kill record', () => {
  const r = parseKmsgRecord(
    '3,1234,5678901,-;Memory cgroup out of memory: Killed process 42 (dd) total-vm:1kB, anon-rss:2kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n',
  );
  assert.equal(r.prio, 3);
  assert.equal(r.facility, 0);
  assert.equal(r.level, 3);
  assert.equal(r.seq, 1234);
  assert.equal(r.tsUsec, 5678901);
  assert.equal(r.flags, '-');
  assert.match(r.message, /^Memory cgroup out of memory: Killed process 42 \(dd\)/);
  assert.ok(isKernelRecord(r));
});

test('a userspace write has facility >= 1 and is not the kernel', () => {
  const r = parseKmsgRecord('12,99,100,-;forged: Killed process 1 (init)\n');
  assert.equal(r.facility, 1);
  assert.equal(r.level, 4);
  assert.equal(isKernelRecord(r), false);
});

test('ignores unknown comma fields and reads continuation dictionary lines', () => {
  const r = parseKmsgRecord('6,7,8,c,future,stuff;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n');
  assert.equal(r.flags, 'c');
  assert.equal(r.message, 'usb 1-1: new device');
  assert.deepEqual(r.dict, { SUBSYSTEM: 'usb', DEVICE: 'c189:1' });
});

test('decodes \\xNN escapes, UTF-8 sequences together, and the escaped backslash', () => {
  assert.equal(unescapeKmsg('a\\x5cb'), 'a\\b');
  assert.equal(unescapeKmsg('caf\\xc3\\xa9'), 'café');
  assert.equal(unescapeKmsg('tab\\x09x'), 'tab\tx');
  const r = parseKmsgRecord('3,1,2,-;Killed process 5 (my\\x20proc)\n');
  assert.equal(r.message, 'Killed process 5 (my proc)');
});

test('a message may contain commas and semicolons after the first ;', () => {
  const r = parseKmsgRecord('4,10,20,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null);x\n');
  assert.equal(r.message, 'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null);x');
});

test('malformed prefixes are ParseErrors naming the source', () => {
  for (const bad of ['no semicolon', 'x,1,2,-;m', '3,1;m', '3,-1,2,-;m', '3,1,2.5,-;m', ',1,2,-;m']) {
    assert.throws(() => parseKmsgRecord(bad, 'cap.kmsg'), (e: unknown) => e instanceof ParseError && e.code === 'EPARSE' && /cap\.kmsg/.test(e.message), bad);
  }
});

test('scanKmsgPrefix reads a record in place, inside a longer text, and reuses its result object', () => {
  const text = 'noise\n6,7,8,c,future,stuff;usb 1-1: new device\nmore';
  const out = newKmsgPrefix();
  const from = text.indexOf('6,');
  const to = text.indexOf('\n', from);
  assert.equal(scanKmsgPrefix(text, from, to, out), out);
  assert.deepEqual(
    [out.kind, out.prio, out.seq, out.tsUsec, text.slice(out.flagsStart, out.flagsEnd), text.slice(out.messageStart, to)],
    ['record', 6, 7, 8, 'c', 'usb 1-1: new device'],
  );
  // The same object, a different line: nothing of the record before is left in it.
  scanKmsgPrefix('6,7,x,-;m', 0, 9, out);
  assert.deepEqual([out.kind, out.seq, out.prio, out.tsUsec, out.messageStart], ['malformed', 7, -1, -1, -1]);
  // `to` bounds the scan: a prefix whose ';' lies past it is not whole.
  assert.equal(scanKmsgPrefix('6,7,8,-;m', 0, 7, out).kind, 'malformed');
  assert.equal(scanKmsgPrefix('6,7,8,-;m', 0, 4, out).kind, 'none');
});

test('scanKmsgPrefix: what is a record, what is malformed (SEQ kept), what is no record at all', () => {
  const cases: [string, string, number][] = [
    ['3,1234,5678901,-;m', 'record', 1234],
    // The kernel keeps a userspace write's facility in a u8: `<2047>` comes back as PRIO 2047.
    ['2047,5,6,-;m', 'record', 5],
    ['2048,5,6,-;m', 'malformed', 5],
    ['6,12,34,-no semicolon', 'malformed', 12],
    ['6,12,x5,-;msg', 'malformed', 12],
    ['6,99999999999999999,5,-;m', 'none', -1],
    ['6,12,99999999999999999,-;m', 'malformed', 12],
    ['3,4,5 apples', 'none', -1],
    ['3,4,5 apples, pears', 'malformed', 4],
    ['12 apples', 'none', -1],
    ['3,1;m', 'none', -1],
    [',1,2,-;m', 'none', -1],
    ['', 'none', -1],
  ];
  const out = newKmsgPrefix();
  for (const [text, kind, seq] of cases) {
    scanKmsgPrefix(text, 0, text.length, out);
    assert.deepEqual([out.kind, out.seq], [kind, seq], text);
    assert.equal(out.problem === '', kind === 'record', text);
  }
});

test('the record parser, the line detector and the text feeder agree on every prefix', () => {
  const lines = [
    '3,1,2,-;Killed process 1 (a)',
    '2047,2,3,-;forged',
    '2048,3,4,-;too high',
    '6,4,5,-,caller=T1;x',
    '6,5,x,-;bad time',
    '6,6,7,-no semicolon',
    '3,4,5 apples, pears',
    '3,4,5 apples',
    '6,99999999999999999,8,-;unsafe seq',
  ];
  for (const line of lines) {
    const scanned = scanKmsgPrefix(line, 0, line.length, newKmsgPrefix());
    let parsed = 'record';
    try {
      parseKmsgRecord(`${line}\n`);
    } catch (err) {
      assert.ok(err instanceof ParseError, line);
      parsed = 'rejected';
    }
    assert.equal(parsed, scanned.kind === 'record' ? 'record' : 'rejected', line);
    const info = newLogLine();
    detectLine(line, info);
    const expected = scanned.kind === 'record' ? 'kmsg' : scanned.kind === 'malformed' ? 'malformed' : 'bare';
    assert.equal(info.format, expected, line);
    const feeder = new KernelLogFeeder(new OomReportParser({ onKill: () => undefined }));
    feeder.begin('test');
    feeder.write(`${line}\n`);
    feeder.end();
    assert.equal(feeder.stats.formats[expected], 1, line);
  }
});
