import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUpKillPath } from '../../src/oom/warmup.js';
import { OomReportParser, parseOomMessages } from '../../src/oom/report.js';
import { OOM_KILL_EVENT_KEYS, type OomKillEvent } from '../../src/oom/event.js';

const STATS = 'total-vm:1000kB, anon-rss:500kB, file-rss:20kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0';
const header = (comm: string): string => `${comm} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0`;
const summary = (oom: string, task: string, comm: string, pid: number): string =>
  `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${oom},task_memcg=${task},task=${comm},pid=${pid},uid=0`;
const kill = (pid: number, comm: string, prefix = 'Memory cgroup out of memory: '): string => `${prefix}Killed process ${pid} (${comm}) ${STATS}`;

/** Records with consecutive SEQ and kernel time from a list of [facility, message]. */
function records(lines: ReadonlyArray<string | readonly [number, string]>, seq0 = 100, ts0 = 1_000_000) {
  return lines.map((l, i) => {
    const [facility, message] = typeof l === 'string' ? [0, l] : l;
    return { message, facility, seq: seq0 + i, tsUsec: ts0 + i * 10 };
  });
}

test('an event has exactly the contract keys, in order', () => {
  const { events } = parseOomMessages(records([header('dd'), summary('/a', '/a/b', 'dd', 7), kill(7, 'dd')]));
  assert.equal(events.length, 1);
  assert.deepEqual(Object.keys(events[0] as OomKillEvent), [...OOM_KILL_EVENT_KEYS]);
  assert.deepEqual(events[0], {
    pid: 7, process: 'dd', scope: 'cgroup', constraint: 'CONSTRAINT_MEMCG', oom_cgroup: '/a', victim_cgroup: '/a/b',
    uid: 0, total_vm_kb: 1000, anon_rss_kb: 500, file_rss_kb: 20, shmem_rss_kb: 0, pgtables_kb: 40, oom_score_adj: 0,
    group_kill: false, partial: false, possibly_child: false, trigger_process: 'dd', seq: 102, kernel_time_us: 1_000_020, kill_time: null, unit: null, runtime: null,
    container_id: null, pod_uid: null, pod_qos: null, memory: null, memory_stat: null, mem_info: null,
    candidates: null, candidates_total: null,
  });
});

test('a header that never gets a kill does not swallow the next report', () => {
  const { events, stats } = parseOomMessages(
    records([
      header('first'),
      summary('/one', '/one', 'victim1', 11),
      'Out of memory and no killable processes...',
      header('second'),
      summary('/two', '/two/x', 'victim2', 22),
      kill(22, 'victim2'),
    ]),
  );
  assert.equal(events.length, 1);
  assert.equal(events[0]?.pid, 22);
  assert.equal(events[0]?.oom_cgroup, '/two');
  assert.equal(events[0]?.victim_cgroup, '/two/x');
  assert.equal(events[0]?.trigger_process, 'second');
  assert.equal(stats.reports, 2);
  assert.equal(stats.reportsWithoutKill, 1);
});

test('a header whose kill line was lost: the next, header-less kill of another pid takes nothing from it', () => {
  const { events, stats } = parseOomMessages(
    records([header('a'), summary('/one', '/one', 'x', 11), kill(99, 'other')]),
  );
  assert.equal(events.length, 1);
  assert.equal(events[0]?.pid, 99);
  assert.equal(events[0]?.oom_cgroup, null);
  assert.equal(events[0]?.victim_cgroup, null);
  assert.equal(events[0]?.trigger_process, null);
  assert.equal(events[0]?.scope, 'cgroup', 'the kill line prefix still tells the scope');
  assert.equal(stats.headerlessKills, 1);
  assert.equal(stats.reportsWithoutKill, 1);
});

test('storm: header-less kills are kills, with only what their own line says', () => {
  const { events, stats } = parseOomMessages(
    records([header('dd'), summary('/s', '/s', 'dd', 1), kill(1, 'dd'), kill(2, 'dd'), kill(3, 'dd'), 'oom_kill_process: 5 callbacks suppressed', header('dd'), summary('/s', '/s', 'dd', 4), kill(4, 'dd')]),
  );
  assert.deepEqual(events.map((e) => e.pid), [1, 2, 3, 4]);
  assert.deepEqual(events.map((e) => e.victim_cgroup), ['/s', null, null, '/s']);
  assert.equal(stats.headerlessKills, 2);
  assert.equal(stats.suppressed, 5);
  assert.equal(stats.kills, 4);
});

test('oom_reaper lines and look-alike messages are not kills', () => {
  const { events } = parseOomMessages(
    records([
      'oom_reaper: reaped process 311 (dd), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB',
      `audit: comm said "Killed process 5 (x) ${STATS}"`,
      `systemd[1]: Killed process 5 (x) ${STATS}`,
    ]),
  );
  assert.equal(events.length, 0);
});

test('foreign records (facility ≥ 1) never produce kills and are counted', () => {
  const { events, stats } = parseOomMessages(
    records([
      [1, header('dd')],
      [1, summary('/f', '/f', 'forged', 4242)],
      [1, kill(4242, 'forged')],
      [3, 'Killed process 4243 (forged)'],
      [0, 'usb 1-1: new device'],
    ]),
  );
  assert.equal(events.length, 0);
  assert.equal(stats.foreign, 4);
  assert.equal(stats.reports, 0);
  assert.equal(stats.messages, 1);
});

test('a forged record between a header and its kill changes nothing', () => {
  const { events } = parseOomMessages(
    records([header('dd'), summary('/a', '/a', 'dd', 7), [1, kill(8, 'forged')], kill(7, 'dd')]),
  );
  assert.deepEqual(events.map((e) => [e.pid, e.victim_cgroup]), [[7, '/a']]);
});

test('group kill: one event per distinct process, all group_kill, the repeated first victim once', () => {
  const { events, stats } = parseOomMessages(
    records([
      header('dd'),
      summary('/g', '/g/w', 'dd', 311),
      kill(311, 'dd'),
      'Tasks in /g are going to be killed due to memory.oom.group set',
      kill(308, 'sleep'),
      kill(309, 'sleep'),
      kill(311, 'dd'),
      'oom_reaper: reaped process 311 (dd), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB',
    ]),
  );
  assert.deepEqual(events.map((e) => e.pid), [311, 308, 309]);
  assert.ok(events.every((e) => e.group_kill));
  assert.equal(events[0]?.victim_cgroup, '/g/w');
  assert.equal(events[1]?.victim_cgroup, null, 'members: the kernel did not say which cgroup below /g');
  assert.ok(events.every((e) => e.oom_cgroup === '/g' && e.trigger_process === 'dd'));
  assert.equal(stats.duplicateKills, 1);
  assert.equal(stats.kills, 3);
});

test('a kill waiting for a possible group line comes out at idle() and at end()', () => {
  const out: number[] = [];
  const p = new OomReportParser({ onKill: (e) => out.push(e.pid) });
  p.push(header('dd'), 1, 10, 0);
  p.push(kill(5, 'dd'), 2, 20, 0);
  assert.deepEqual(out, []);
  p.idle();
  assert.deepEqual(out, [5]);
  p.push(kill(6, 'dd'), 3, 30, 0);
  p.push('usb 1-1: new device', 4, 40, 0);
  assert.deepEqual(out, [5, 6], 'any next message releases it');
  p.push(kill(7, 'dd'), 5, 50, 0);
  p.end();
  assert.deepEqual(out, [5, 6, 7]);
});

test('group kill read in two batches (idle() between the first kill and the group line): still each process once', () => {
  // A live reader hands the parser what the device had at one moment; the kernel may not yet have
  // stored the group line when the first victim's kill line was read, and idle() released it.
  const out: OomKillEvent[] = [];
  const p = new OomReportParser({ onKill: (e) => out.push(e) });
  const recs = records([
    header('dd'),
    summary('/g', '/g/w', 'dd', 311),
    kill(311, 'dd'),
    'Tasks in /g are going to be killed due to memory.oom.group set',
    kill(308, 'sleep'),
    kill(309, 'sleep'),
    kill(311, 'dd'),
  ]);
  for (const [i, r] of recs.entries()) {
    p.pushRecord(r);
    if (i === 2) p.idle();
  }
  p.end();
  assert.deepEqual(out.map((e) => e.pid), [311, 308, 309], 'the repeated first victim is not a second kill');
  assert.equal(out[0]?.group_kill, false, 'already printed before the group line came');
  assert.ok(out.slice(1).every((e) => e.group_kill));
  assert.equal(p.stats.duplicateKills, 1);
  assert.equal(p.stats.kills, 3);
});

test('a group ends when kill lines stop following each other', () => {
  const { events } = parseOomMessages([
    { message: header('dd'), seq: 1, tsUsec: 1_000, facility: 0 },
    { message: kill(1, 'a'), seq: 2, tsUsec: 1_010, facility: 0 },
    { message: 'Tasks in /g are going to be killed due to memory.oom.group set', seq: 3, tsUsec: 1_020, facility: 0 },
    { message: kill(2, 'b'), seq: 4, tsUsec: 1_030, facility: 0 },
    { message: kill(3, 'c'), seq: 5, tsUsec: 9_000_000, facility: 0 },
  ]);
  assert.deepEqual(events.map((e) => [e.pid, e.group_kill]), [[1, true], [2, true], [3, false]]);
});

test('SEQ gaps are counted as lost; a report without a summary pid does not survive one', () => {
  const { events, stats } = parseOomMessages([
    { message: header('dd'), seq: 10, tsUsec: 1, facility: 0 },
    { message: 'Task in /a killed as a result of limit of /a', seq: 11, tsUsec: 2, facility: 0 },
    { message: kill(5, 'x', ''), seq: 15, tsUsec: 3, facility: 0 },
  ]);
  assert.equal(stats.lost, 3);
  assert.equal(events[0]?.oom_cgroup, null);
  assert.equal(events[0]?.trigger_process, null);
});

test('a report with a summary still gets its own kill after a gap (matched by pid)', () => {
  const { events, stats } = parseOomMessages([
    { message: header('dd'), seq: 10, tsUsec: 1, facility: 0 },
    { message: summary('/a', '/a/b', 'x', 5), seq: 11, tsUsec: 2, facility: 0 },
    { message: kill(5, 'x'), seq: 20, tsUsec: 3, facility: 0 },
  ]);
  assert.equal(stats.lost, 8);
  assert.equal(events[0]?.victim_cgroup, '/a/b');
});

test('a stale report (by kernel time) is closed before a later kill line', () => {
  const { events, stats } = parseOomMessages([
    { message: header('dd'), seq: 1, tsUsec: 1_000_000, facility: 0 },
    { message: 'Task in /a killed as a result of limit of /a', seq: 2, tsUsec: 1_000_010, facility: 0 },
    { message: 'Killed process 5 (x)', seq: 3, tsUsec: 60_000_000, facility: 0 },
  ]);
  assert.equal(events[0]?.oom_cgroup, null);
  assert.equal(stats.reportsWithoutKill, 1);
});

test('SEQ going back (another boot) starts over', () => {
  const { events } = parseOomMessages([
    { message: header('dd'), seq: 500, tsUsec: 9_000_000, facility: 0 },
    { message: 'Task in /a killed as a result of limit of /a', seq: 501, tsUsec: 9_000_001, facility: 0 },
    { message: 'Killed process 5 (x)', seq: 3, tsUsec: 5, facility: 0 },
  ]);
  assert.equal(events[0]?.oom_cgroup, null);
});

test('legacy: Task in + Kill process + kill line; a sacrificed child gets no victim cgroup', () => {
  const { events } = parseOomMessages([
    header('java'),
    'Task in /k/pod/c killed as a result of limit of /k/pod',
    'Memory cgroup out of memory: Kill process 2811 (java) score 1970 or sacrifice child',
    'Killed process 2811 (java) total-vm:3950616kB, anon-rss:520000kB, file-rss:4100kB',
    header('stress'),
    'Task in /s killed as a result of limit of /s',
    'Memory cgroup out of memory: Kill process 4321 (stress) score 6 or sacrifice child',
    'Killed process 4322 (stress) total-vm:110076kB, anon-rss:101016kB, file-rss:304kB, shmem-rss:0kB',
  ]);
  assert.deepEqual(
    events.map((e) => [e.pid, e.scope, e.oom_cgroup, e.victim_cgroup, e.trigger_process]),
    [
      [2811, 'cgroup', '/k/pod', '/k/pod/c', 'java'],
      [4322, 'cgroup', '/s', null, 'stress'],
    ],
  );
});

test('legacy storm: a header-less Kill process line opens its own report', () => {
  const { events, stats } = parseOomMessages([
    header('a'),
    'Task in /s killed as a result of limit of /s',
    'Memory cgroup out of memory: Kill process 1 (a) score 9 or sacrifice child',
    'Killed process 1 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB',
    'Memory cgroup out of memory: Kill process 2 (b) score 9 or sacrifice child',
    'Killed process 2 (b) total-vm:1kB, anon-rss:1kB, file-rss:0kB',
  ]);
  assert.deepEqual(events.map((e) => [e.pid, e.oom_cgroup, e.scope]), [[1, '/s', 'cgroup'], [2, null, 'cgroup']]);
  assert.equal(stats.reports, 2);
});

test('system OOM: global_oom keeps the victim cgroup, no oom_cgroup', () => {
  const { events } = parseOomMessages([
    header('node'),
    'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/app.service,task=node,pid=402,uid=1000',
    `Out of memory: Killed process 402 (node) ${STATS}`,
  ]);
  assert.equal(events[0]?.scope, 'system');
  assert.equal(events[0]?.oom_cgroup, null);
  assert.equal(events[0]?.victim_cgroup, '/system.slice/app.service');
  assert.equal(events[0]?.unit, 'app.service');
  assert.equal(events[0]?.constraint, 'CONSTRAINT_NONE');
});

test('the kill line comm settles an ambiguous summary (a path ending in ",task=...")', () => {
  const { events } = parseOomMessages([
    header('dd'),
    summary('/g', '/g/x,task=q', 'dd', 9),
    kill(9, 'dd'),
  ]);
  assert.equal(events[0]?.victim_cgroup, '/g/x,task=q');
  assert.equal(events[0]?.oom_cgroup, '/g');
});

test('the start-up warm-up goes through the whole kill path: one kill, its cgroup and Kubernetes owner', () => {
  const kills = warmUpKillPath();
  assert.equal(kills.length, 1);
  const k = kills[0]!;
  assert.equal(k.pid, 5961);
  assert.equal(k.process, 'dd');
  assert.equal(k.scope, 'cgroup');
  assert.match(k.victim_cgroup ?? '', /^\/kubepods\/besteffort\/pod7c1d2e3f/);
  assert.equal(k.pod_uid, '7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f');
  assert.equal(k.anon_rss_kb, 65280);
});
