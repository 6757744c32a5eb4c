import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKmsgRecord, unescapeKmsg, isKernelRecord } from '../../src/kmsg/record.js';
import { ParseError } from '../../src/errors.js';

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
