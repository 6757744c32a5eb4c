/**
 * The kernel's message after any prefix, as people save and paste logs: wrappers of other
 * programs (JSON, logfmt, a container runtime's log, a console log, kubectl describe), dmesg -T and
 * journal dates in other locales, syslog without host names, numbers with thousands separators,
 * kill lines cut short or cut in two, and reports of interleaved sources kept apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectLine, newLogLine, type LogLine } from '../../src/logfmt/line.js';
import { lineWallUs } from '../../src/logfmt/clock.js';
import { KernelLogFeeder } from '../../src/logfmt/feed.js';
import { OomReportParser, parseOomMessages } from '../../src/oom/report.js';
import { joinBrokenLine, parseKillLine, parsePartialKillLine } from '../../src/oom/messages.js';
import { parseMemcgCounterLine } from '../../src/oom/memcgMeminfo.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const KILL = 'Memory cgroup out of memory: Killed process 5736 (dd) total-vm:134048kB, anon-rss:65280kB, file-rss:1660kB, shmem-rss:0kB, UID:0 pgtables:180kB oom_score_adj:0';

function detect(line: string): LogLine & { message: string } {
  const out = newLogLine();
  detectLine(line, out);
  return { ...out, message: (out.inner ?? line).slice(out.messageStart) };
}

function wall(line: string): string | null {
  const out = newLogLine();
  detectLine(line, out);
  const us = lineWallUs(line, out, { referenceMs: Date.UTC(2026, 11, 1) });
  return us < 0 ? null : new Date(us / 1000).toISOString();
}

function feed(text: string): { events: OomKillEvent[]; parser: OomReportParser; feeder: KernelLogFeeder } {
  const events: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => events.push(e) });
  const feeder = new KernelLogFeeder(parser);
  feeder.begin('test', Date.UTC(2026, 11, 1));
  feeder.write(text);
  feeder.end();
  return { events, parser, feeder };
}

test('wrapped: JSON and logfmt strings, a container runtime log, a console log, kubectl describe, any prefix', () => {
  const docker = detect(`{"log":"[  413.084460] ${KILL}\\n","stream":"stdout","time":"2026-11-28T05:27:31.123456789Z"}`);
  assert.deepEqual([docker.format, docker.message, docker.tsUs], ['wrapped', KILL, 413084460]);
  const cri = detect(`2026-11-28T05:27:31.123456789Z stdout F [  413.084460] ${KILL}`);
  assert.deepEqual([cri.format, cri.message, cri.tsUs], ['wrapped', KILL, 413084460]);
  const logfmt = detect(`time="2026-11-28T05:27:31Z" level=info msg="${KILL.replace('(dd)', '(\\"dd\\")')}"`);
  assert.deepEqual([logfmt.format, logfmt.message], ['wrapped', KILL.replace('(dd)', '("dd")')]);
  const console = detect(`2026-11-28T05:27:31.123Z| vcpu-0| I005: Guest: <6>[  413.084460] ${KILL}`);
  assert.deepEqual([console.format, console.message, console.tsUs], ['wrapped', KILL, 413084460]);
  const npd = detect(`  Warning  OOMKilling  2m  kernel-monitor, node-1  ${KILL}`);
  assert.deepEqual([npd.format, npd.message, npd.tsUs], ['wrapped', KILL, -1]);
  const ident = detect(`2026-11-28T05:27:31Z [syslog-ng] node-1 kernel: ${KILL}`);
  assert.deepEqual([ident.format, ident.message, ident.facility], ['wrapped', KILL, 0]);
  const ci = detect(`2026-11-28T05:27:31.1234567Z [  413.084460] ${KILL}`);
  assert.deepEqual([ci.format, ci.message, ci.tsUs], ['wrapped', KILL, 413084460]);
  // dmesg --time-format iso itself stays what it is.
  assert.deepEqual([detect(`2026-11-28T05:27:31,123456+00:00 ${KILL}`).format, detect('2026-11-28T05:27:31,123456+00:00 usb 1-1: new device').message], ['dmesg-iso', 'usb 1-1: new device']);
  // The comm of a header after an unknown prefix: after the wrapper's last separator (it may hold spaces).
  assert.equal(detect('node-1  CPU 2/KVM invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0').message.startsWith('CPU 2/KVM invoked'), true);
  // A text with the kernel's message at its very start is a bare message, as before.
  assert.deepEqual([detect(KILL).format, detect(KILL).message], ['bare', KILL]);
  assert.equal(detect('some app: nothing of the kernel here').format, 'bare');
});

test("a wrapper's time is the kill's time when it is RFC 3339; an unknown prefix gives none", () => {
  assert.equal(wall(`{"log":"[  413.084460] ${KILL}\\n","time":"2026-11-28T05:27:31.5Z"}`), '2026-11-28T05:27:31.500Z');
  assert.equal(wall(`2026-11-28T05:27:31.123456789Z stdout F ${KILL}`), '2026-11-28T05:27:31.123Z');
  assert.equal(wall(`time="2026-11-28T05:27:31+01:00" msg="${KILL}"`), '2026-11-28T04:27:31.000Z');
  assert.equal(wall(`  Warning  OOMKilling  2m  kernel-monitor, node-1  ${KILL}`), null);
});

test('dmesg -T and journal dates in other locales; syslog without the host name', () => {
  process.env['TZ'] = 'UTC';
  for (const [stamp, iso] of [
    ['[Sa Nov 28 05:27:31 2026]', '2026-11-28T05:27:31.000Z'],
    ['[Do Dez  7 00:05:15 2017]', '2017-12-07T00:05:15.000Z'],
    ['[jeu. déc.  7 00:05:15 2017]', '2017-12-07T00:05:15.000Z'],
    ['[sáb mar 14 10:00:00 2026]', '2026-03-14T10:00:00.000Z'],
    ['[Mi Mär  4 10:00:00 2026]', '2026-03-04T10:00:00.000Z'],
  ] as const) {
    const d = detect(`${stamp} ${KILL}`);
    assert.deepEqual([d.format, d.message], ['dmesg-T', KILL], stamp);
    assert.equal(wall(`${stamp} ${KILL}`), iso, stamp);
  }
  // A month name no table knows: the line is still read, its time is unknown.
  assert.deepEqual([detect(`[Xx Yyy  7 00:05:15 2017] ${KILL}`).format, wall(`[Xx Yyy  7 00:05:15 2017] ${KILL}`)], ['dmesg-T', null]);
  const de = detect(`Dez 07 00:05:15 node-1 kernel: ${KILL}`);
  assert.deepEqual([de.format, de.facility, de.message], ['journal', 0, KILL]);
  assert.equal(wall(`Dez 07 00:05:15 node-1 kernel: ${KILL}`), '2026-12-07T00:05:15.000Z'.replace('2026-12-07', '2025-12-07'));
  const nohost = detect(`Nov 28 05:27:31 kernel: [  413.084460] ${KILL}`);
  assert.deepEqual([nohost.format, nohost.facility, nohost.tsUs, nohost.message], ['journal', 0, 413084460, KILL]);
  // After a dmesg stamp, `comm[pid]: ` without a host is the kernel's own segfault line, not a journal's.
  const segv = detect('[  413.084460] python3[1234]: segfault at 0 ip 0000 sp 0000 error 4');
  assert.deepEqual([segv.format, segv.facility, segv.tsUs], ['dmesg', -1, 413084460]);
  assert.deepEqual([detect(`[  413.084460] kernel: ${KILL}`).format, detect(`[  413.084460] kernel: ${KILL}`).message], ['journal-monotonic', KILL]);
  // Without a host, a userspace identifier is still userspace; `kernel: a: b` is the kernel's `a: b`.
  assert.equal(detect(`Nov 28 05:27:31 myapp[77]: ${KILL}`).facility, 1);
  assert.deepEqual([detect('Nov 28 05:27:31 kernel: usb 1-1: new device').facility, detect('Nov 28 05:27:31 kernel: usb 1-1: new device').message], [0, 'usb 1-1: new device']);
});

test('thousands separators in a kill line: comma, dot, space; the kernel never prints a fraction there', () => {
  for (const n of ['65,536', '65.536', '65 536']) {
    const k = parseKillLine(`Killed process 1 (x) total-vm:1${n.slice(2, 3)}000${n.slice(2, 3)}000kB, anon-rss:${n}kB, file-rss:0kB, shmem-rss:0kB`);
    assert.deepEqual([k?.totalVmKb, k?.anonRssKb, k?.partial], [1_000_000, 65_536, false], n);
  }
  assert.deepEqual(parseMemcgCounterLine('memory: usage 65.536kB, limit 65.536kB, failcnt 19'), ['memory', { usage: 65536 * 1024, limit: 65536 * 1024, failcnt: 19 }]);
  // Groups of three only, one kind of separator: anything else is no number of the kernel's.
  assert.equal(parseMemcgCounterLine('memory: usage 65,53kB, limit 65536kB, failcnt 19'), undefined);
  assert.equal(parseKillLine('Killed process 1 (x) total-vm:65,53kB, anon-rss:1kB, file-rss:0kB'), undefined);
  assert.equal(parsePartialKillLine('Killed process 1 (x) total-vm:65,53kB, anon-rss:1kB, file-rss:0kB')?.totalVmKb, null);
});

test('a kill line that cannot be read whole is still a kill: partial, what it says kept, the rest null', () => {
  const { events, parser } = feed([
    '[  10.000000] a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
    '[  10.000001] Memory cgroup out of memory: Killed process 4242 (java) total-vm:20255636kB, anon-rss:46',
    '[  20.000000] Killed process 77 (a very long comm that is no comm) total-vm:1kB, anon-rss:2kB, file-rss:3kB',
    '[  30.000000] Killed process 78',
    '',
  ].join('\n'));
  assert.deepEqual(
    events.map((e) => [e.pid, e.process, e.total_vm_kb, e.anon_rss_kb, e.partial]),
    [[4242, 'java', 20255636, null, true], [77, null, 1, 2, true], [78, null, null, null, true]],
  );
  assert.equal(events[0]?.scope, 'cgroup');
  assert.equal(events[0]?.trigger_process, 'a');
  assert.deepEqual([parser.stats.kills, parser.stats.partialKills, parser.stats.possiblyChildKills], [3, 3, 0]);
});

test('a kill line cut in two by a terminal is joined when the halves make the whole line; never otherwise', () => {
  const head = '[  10.000001] Killed process 4833 (python) total-vm:1059548kB, anon-rss:830480k';
  const joined = feed(`${head}\nB, file-rss:2796kB, shmem-rss:0kB\n`);
  assert.deepEqual(joined.events.map((e) => [e.pid, e.anon_rss_kb, e.file_rss_kb, e.partial]), [[4833, 830480, 2796, false]]);
  // Cut at a space: the halves need it back.
  const atSpace = feed('[ 10.0] x\nOut of memory: Kill process 4833 (python) score 901 or sacrifice\nchild\n');
  assert.equal(joined.feeder.stats.lines, 2);
  assert.deepEqual(atSpace.events.map((e) => [e.pid, e.possibly_child]), [[4833, true]]);
  // The next line has a form of its own, or does not complete the line: nothing is joined, the kill stays partial.
  const notJoined = feed(`${head}\n[  10.000002] B, file-rss:2796kB, shmem-rss:0kB\n${head}\nsomething else\n`);
  assert.deepEqual(notJoined.events.map((e) => [e.pid, e.anon_rss_kb, e.partial]), [[4833, null, true], [4833, null, true]]);
  assert.equal(joinBrokenLine('Killed process 1 (x) total-vm:1kB, anon-rss:2', 'kB, file-rss:zz'), undefined);
  // A paste that padded the wrap with spaces inside one line.
  const padded = feed(`[  10.000001] Killed process 4833 (python) total-vm:1059548kB, anon-rss:830480k${' '.repeat(40)}B, file-rss:2796kB, shmem-rss:0kB\n`);
  assert.deepEqual(padded.events.map((e) => [e.anon_rss_kb, e.partial]), [[830480, false]]);
});

test('Kill process without its Killed process line: a kill of the selected task, possibly a child; with it, one kill', () => {
  const alone = parseOomMessages([
    'Memory cgroup out of memory: Kill process 25169 (hyperkube) score 2109 or sacrifice child',
    'Memory cgroup out of memory: Kill process 42469 (memcg_test_1) score 0 or sacrifice child',
  ]);
  assert.deepEqual(
    alone.events.map((e) => [e.pid, e.process, e.scope, e.partial, e.possibly_child, e.total_vm_kb]),
    [[25169, 'hyperkube', 'cgroup', true, true, null], [42469, 'memcg_test_1', 'cgroup', true, true, null]],
  );
  assert.deepEqual([alone.stats.kills, alone.stats.reports, alone.stats.reportsWithoutKill, alone.stats.possiblyChildKills], [2, 2, 0, 2]);
  const both = parseOomMessages([
    'Memory cgroup out of memory: Kill process 24572 (java) score 0 or sacrifice child',
    'Killed process 28438 (java) total-vm:20255636kB, anon-rss:466160kB, file-rss:13684kB',
  ]);
  assert.deepEqual(both.events.map((e) => [e.pid, e.partial, e.possibly_child]), [[28438, false, false]]);
  assert.equal(both.stats.kills, 1);
});

test("a summary line after its kill line is the kill's: its cgroups, no report of its own", () => {
  const { events, stats } = parseOomMessages([
    'a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
    'Memory cgroup out of memory: Killed process 7 (a) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/pod1,task_memcg=/kubepods/pod1/c1,task=a,pid=7,uid=0',
    'Memory cgroup out of memory: Killed process 8 (b) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0',
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=c,pid=9,uid=0',
  ]);
  assert.deepEqual(events.map((e) => [e.pid, e.oom_cgroup, e.victim_cgroup, e.constraint]), [
    [7, '/kubepods/pod1', '/kubepods/pod1/c1', 'CONSTRAINT_MEMCG'],
    // Another pid's summary is not this kill's: it opens the next report.
    [8, null, null, null],
  ]);
  assert.deepEqual([stats.kills, stats.reports, stats.reportsWithoutKill], [2, 2, 1]);
});

test("interleaved sources (two hosts' journals, two containers' logs) are read apart", () => {
  const hdr = (host: string, comm: string): string => `Nov 28 05:27:31 ${host} kernel: ${comm} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0`;
  const sum = (host: string, cg: string, comm: string, pid: number): string =>
    `Nov 28 05:27:31 ${host} kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${cg},task_memcg=${cg},task=${comm},pid=${pid},uid=0`;
  const kill = (host: string, comm: string, pid: number): string =>
    `Nov 28 05:27:31 ${host} kernel: Memory cgroup out of memory: Killed process ${pid} (${comm}) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0`;
  const text = [hdr('node-a', 'a'), hdr('node-b', 'b'), sum('node-a', '/pod-a', 'a', 10), sum('node-b', '/pod-b', 'b', 20), kill('node-b', 'b', 20), kill('node-a', 'a', 10), ''].join('\n');
  const { events, parser } = feed(text);
  assert.deepEqual(events.map((e) => [e.pid, e.trigger_process, e.victim_cgroup]).sort(), [[10, 'a', '/pod-a'], [20, 'b', '/pod-b']]);
  assert.deepEqual([parser.stats.kills, parser.stats.reports, parser.stats.headerlessKills], [2, 2, 0]);
  // The same in JSON lines of two containers, told apart by the field around the message.
  const j = (src: string, msg: string): string => JSON.stringify({ source: src, log: `${msg}\n`, time: '2026-11-28T05:27:31Z' });
  const strip = (l: string): string => l.replace(/^Nov 28 05:27:31 node-. kernel: /, '');
  const jtext = [j('a', strip(hdr('node-a', 'a'))), j('b', strip(hdr('node-b', 'b'))), j('a', strip(sum('node-a', '/pod-a', 'a', 10))),
    j('b', strip(sum('node-b', '/pod-b', 'b', 20))), j('b', strip(kill('node-b', 'b', 20))), j('a', strip(kill('node-a', 'a', 10))), ''].join('\n');
  const js = feed(jtext);
  assert.deepEqual(js.events.map((e) => [e.pid, e.victim_cgroup, e.kill_time]).sort(), [[10, '/pod-a', '2026-11-28T05:27:31.000000Z'], [20, '/pod-b', '2026-11-28T05:27:31.000000Z']]);
  assert.equal(js.feeder.stats.formats.wrapped, 6);
});
