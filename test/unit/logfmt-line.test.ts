import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectLine, newLogLine, type LogLine } from '../../src/logfmt/line.js';
import { KernelLogFeeder } from '../../src/logfmt/feed.js';
import { OomReportParser } from '../../src/oom/report.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const MSG = 'Memory cgroup out of memory: Killed process 5736 (my (odd),name) total-vm:134048kB, anon-rss:65280kB, file-rss:1660kB, shmem-rss:0kB, UID:0 pgtables:180kB oom_score_adj:0';

function detect(line: string, prevWasKmsg = false): LogLine & { message: string } {
  const out = newLogLine();
  detectLine(line, out, prevWasKmsg);
  return { ...out, message: line.slice(out.messageStart) };
}

test('raw kmsg records: prio, seq, time, facility; extra comma fields ignored', () => {
  const d = detect(`3,1143,413084460,-;${MSG}`);
  assert.equal(d.format, 'kmsg');
  assert.equal(d.message, MSG);
  assert.deepEqual([d.seq, d.tsUs, d.facility, d.level, d.escaped], [1143, 413084460, 0, 3, true]);
  const u = detect('12,2721,451718879,-,caller=T1;forged');
  assert.deepEqual([u.format, u.facility, u.message], ['kmsg', 1, 'forged']);
  assert.equal(detect(' SUBSYSTEM=usb', true).format, 'kmsg-dict');
  assert.equal(detect(' SUBSYSTEM=usb', false).format, 'bare');
});

test('a broken kmsg prefix is malformed, not a message', () => {
  assert.equal(detect('6,12,34,-no semicolon').format, 'malformed');
  assert.equal(detect('6,12,x5,-;msg').format, 'malformed');
  // PRIO ≤ 2047 is a record: the kernel keeps any facility a userspace write asks for in a u8.
  assert.deepEqual([detect('2047,12,5,-;msg').format, detect('2047,12,5,-;msg').facility], ['kmsg', 255]);
  assert.equal(detect('2048,12,5,-;msg').format, 'malformed');
  assert.equal(detect('3,4,5 apples, pears').format, 'malformed');
  assert.equal(detect('3,4,5 apples').format, 'bare');
  assert.equal(detect('12 apples').format, 'bare');
});

test('dmesg, dmesg -r, dmesg -x, dmesg -T, dmesg --time-format iso, caller ids', () => {
  const plain = detect(`[  413.084460] ${MSG}`);
  assert.deepEqual([plain.format, plain.tsUs, plain.facility, plain.message], ['dmesg', 413084460, -1, MSG]);
  const caller = detect(`[  413.084460] [  T5736] ${MSG}`);
  assert.deepEqual([caller.format, caller.message], ['dmesg', MSG]);
  const raw = detect(`<3>[  413.084460] ${MSG}`);
  assert.deepEqual([raw.format, raw.tsUs, raw.level, raw.facility, raw.message], ['dmesg-raw', 413084460, 3, -1, MSG]);
  assert.equal(detect('<12>[    1.000000] forged').facility, 1);
  const x = detect(`kern  :err   : [  413.084460] ${MSG}`);
  assert.deepEqual([x.format, x.facility, x.level, x.tsUs, x.message], ['dmesg-x', 0, 3, 413084460, MSG]);
  const xu = detect('user  :warn  : [  451.718879] forged');
  assert.deepEqual([xu.facility, xu.message], [1, 'forged']);
  const t = detect(`[Sat Nov 28 05:27:31 2026] ${MSG}`);
  assert.deepEqual([t.format, t.tsUs, t.message], ['dmesg-T', -1, MSG]);
  const iso = detect(`2026-11-28T05:27:31,123456+00:00 ${MSG}`);
  assert.deepEqual([iso.format, iso.message], ['dmesg-iso', MSG]);
});

test('journalctl -k: short, short-precise, short-monotonic, short-iso, markers; userspace identifiers', () => {
  const s = detect(`Nov 28 05:27:31 oomhost kernel: ${MSG}`);
  assert.deepEqual([s.format, s.facility, s.tsUs, s.escaped, s.message], ['journal', 0, -1, false, MSG]);
  assert.equal(detect(`Nov  8 05:27:31.000183 oomhost kernel: ${MSG}`).message, MSG);
  const m = detect(`[  413.084460] oomhost kernel: ${MSG}`);
  assert.deepEqual([m.format, m.tsUs, m.message], ['journal-monotonic', -1, MSG]);
  const iso = detect(`2026-11-28T05:27:31+0000 oomhost kernel: ${MSG}`);
  assert.deepEqual([iso.format, iso.message], ['journal-iso', MSG]);
  const user = detect(`Nov 27 09:12:01 node1 myapp[777]: ${MSG}`);
  assert.deepEqual([user.format, user.facility], ['journal', 1]);
  assert.equal(detect('-- Boot 0123456789abcdef0123456789abcdef --').boot, true);
  assert.equal(detect('-- No entries --').format, 'journal-marker');
  assert.equal(detect('-- No entries --').boot, false);
});

test('syslog files (kern.log): the journal layout with the kernel stamp kept in the message', () => {
  const k = detect(`May  1 21:13:05 dev-VirtualBox kernel: [ 4563.079551] ${MSG}`);
  assert.deepEqual([k.format, k.tsUs, k.facility, k.message], ['journal', 4563079551, 0, MSG]);
  const r = detect(`2026-11-28T05:27:31.123456+00:00 host kernel: [    1.000001] ${MSG}`);
  assert.deepEqual([r.format, r.tsUs, r.message], ['journal-iso', 1000001, MSG]);
});

test('a dmesg line that looks like "host ident: ..." stays dmesg unless the identifier is the kernel or has a pid', () => {
  const d = detect('[    1.000000] usb 1-1: new high-speed USB device number 2');
  assert.deepEqual([d.format, d.message], ['dmesg', 'usb 1-1: new high-speed USB device number 2']);
});

test('bare messages: the task table, a call trace line, dmesg -t', () => {
  assert.equal(detect('[   5736]     0  5736    33512    16735 my (odd),name').format, 'bare');
  assert.equal(detect(' dump_stack_lvl+0x57/0x80').format, 'bare');
  assert.equal(detect(MSG).format, 'bare');
  assert.equal(detect(MSG).message, MSG);
});

function feed(chunks: readonly string[]): { events: OomKillEvent[]; feeder: KernelLogFeeder; parser: OomReportParser } {
  const events: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => events.push(e) });
  const feeder = new KernelLogFeeder(parser);
  feeder.begin('test');
  for (const c of chunks) feeder.write(c);
  feeder.end();
  return { events, feeder, parser };
}

test('the feeder joins lines cut between chunks, takes CRLF, decodes escapes, counts malformed lines', () => {
  const text = `4,1,10,-;caf\\xc3\\xa9 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\r\n6,2,20,-\n3,3,30,-;Killed process 9 (caf\\xc3\\xa9) total-vm:1kB, anon-rss:1kB, file-rss:0kB`;
  for (let cut = 1; cut < text.length; cut += 7) {
    const { events, feeder } = feed([text.slice(0, cut), text.slice(cut)]);
    assert.equal(events.length, 1, `cut at ${cut}`);
    assert.equal(events[0]?.process, 'café');
    assert.equal(events[0]?.trigger_process, 'café');
    assert.equal(feeder.stats.malformed, 1);
    assert.equal(feeder.stats.malformedExamples[0]?.line, 2);
  }
});

test('the feeder: a journal boot marker starts over; SEQ gaps in raw input count as lost', () => {
  const j = feed([
    'Nov 27 09:12:01 h kernel: a invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0\n',
    'Nov 27 09:12:01 h kernel: Task in /a killed as a result of limit of /a\n',
    '-- Boot 0123456789abcdef0123456789abcdef --\n',
    'Nov 27 09:13:01 h kernel: Killed process 5 (x)\n',
  ]);
  assert.equal(j.events[0]?.oom_cgroup, null);
  const r = feed(['6,10,1,-;a\n6,11,2,-;b\n6,15,3,-;c\n']);
  assert.equal(r.parser.stats.lost, 3);
});
