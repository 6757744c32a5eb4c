import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  OOM_KEYWORD,
  indexOfOomKeyword,
  isAlreadyExitingLine,
  isNoKillableLine,
  mayBeOomLine,
  parseGroupLine,
  parseHeaderLine,
  parseKillLine,
  parseSelectLine,
  parseSummaryLine,
  parseSuppressedLine,
  parseTaskInLine,
} from '../../src/oom/messages.js';

const STATS = 'total-vm:134048kB, anon-rss:65280kB, file-rss:1660kB, shmem-rss:0kB, UID:1000 pgtables:180kB oom_score_adj:-17';

test('kill line (≥ 5.x): prefix, pid, comm with spaces/parens/commas, every counter', () => {
  const k = parseKillLine(`Memory cgroup out of memory: Killed process 5736 (my (odd),name) ${STATS}`);
  assert.deepEqual(k, {
    pid: 5736,
    comm: 'my (odd),name',
    scope: 'cgroup',
    totalVmKb: 134048,
    anonRssKb: 65280,
    fileRssKb: 1660,
    shmemRssKb: 0,
    uid: 1000,
    pgtablesKb: 180,
    oomScoreAdj: -17,
    partial: false,
  });
  assert.equal(parseKillLine(`Out of memory: Killed process 1 (a) ${STATS}`)?.scope, 'system');
  assert.equal(parseKillLine(`Out of memory (oom_kill_allocating_task): Killed process 1 (a) ${STATS}`)?.scope, 'system');
});

test('kill line: older shapes (no prefix, no shmem-rss, no UID/pgtables, no counters at all)', () => {
  const k314 = parseKillLine('Killed process 4322 (stress) total-vm:110076kB, anon-rss:101016kB, file-rss:304kB, shmem-rss:0kB');
  assert.equal(k314?.scope, null);
  assert.equal(k314?.shmemRssKb, 0);
  assert.equal(k314?.uid, null);
  const k310 = parseKillLine('Killed process 2811 (java) total-vm:3950616kB, anon-rss:520000kB, file-rss:4100kB');
  assert.equal(k310?.pid, 2811);
  assert.equal(k310?.shmemRssKb, null);
  const k54 = parseKillLine('Memory cgroup out of memory: Killed process 101 (app) total-vm:100kB, anon-rss:90kB, file-rss:0kB, shmem-rss:0kB, UID:0');
  assert.equal(k54?.uid, 0);
  assert.equal(k54?.pgtablesKb, null);
  const bare = parseKillLine('Killed process 77 (x) y)');
  assert.equal(bare?.comm, 'x) y');
  assert.equal(bare?.totalVmKb, null);
});

test('kill line: the RHEL/CentOS 7 form with ", UID N," after the comm', () => {
  const k = parseKillLine('Killed process 5372 (mon, UID 1)d), UID 0, total-vm:2539052kB, anon-rss:2117096kB, file-rss:0kB, shmem-rss:0kB');
  assert.equal(k?.pid, 5372);
  assert.equal(k?.comm, 'mon, UID 1)d');
  assert.equal(k?.uid, 0);
  assert.equal(k?.anonRssKb, 2117096);
  assert.equal(parseKillLine('Killed process 5372 (mongod), UID x, total-vm:1kB, anon-rss:1kB, file-rss:0kB'), undefined);
  assert.equal(parseKillLine('Killed process 5372 (mongod) UID 0, total-vm:1kB, anon-rss:1kB, file-rss:0kB'), undefined);
});

test('kill line: a comm holding ") total-vm:" is still read from the right', () => {
  const k = parseKillLine(`Killed process 9 (a) total-vm:1) ${STATS}`);
  assert.equal(k?.comm, 'a) total-vm:1');
});

test('not a kill: anything but the kernel kill line shape', () => {
  const no = [
    'oom_reaper: reaped process 311 (dd), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB',
    `myapp: Killed process 12 (x) ${STATS}`,
    `Memory cgroup out of memory: Killed process 12 (x) ${STATS} extra`,
    'Killed process 12 (x',
    'Killed process x (y)',
    'Killed process  12 (y)',
    'Killed process 12 (this comm is far too long to be a comm)',
    `  Killed process 12 (x) ${STATS}`,
    'the daemon said: Killed process 12 (x)',
    `Killed process 12345678901 (x) ${STATS}`,
    'Killed process 12 (x) total-vm:1kB',
    'Memory cgroup out of memory: Kill process 1 (a) score 1 or sacrifice child',
    '',
  ];
  for (const line of no) assert.equal(parseKillLine(line), undefined, line);
});

test('legacy select line: Kill process N (comm) score S or sacrifice child', () => {
  assert.deepEqual(parseSelectLine('Memory cgroup out of memory: Kill process 4321 (st) r) score 6 or sacrifice child'), {
    pid: 4321,
    comm: 'st) r',
    scope: 'cgroup',
    score: 6,
  });
  assert.equal(parseSelectLine('Out of memory: Kill process 999 (mysqld) score 800 or sacrifice child')?.scope, 'system');
  assert.equal(parseSelectLine('Kill process 999 (mysqld) score 800 or sacrifice child'), undefined);
});

test('header: the trigger comm, which may hold spaces', () => {
  assert.equal(parseHeaderLine('my (odd),name invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0'), 'my (odd),name');
  assert.equal(parseHeaderLine('x invoked oom-killer'), undefined);
  assert.equal(parseHeaderLine('a much too long comm name invoked oom-killer: gfp_mask=0x0'), undefined);
});

test('summary (≥ 4.19): oom_memcg and task_memcg with commas, comm with a fake ",task="', () => {
  const line =
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/oomwatch-capture/odd, dir (1)/a,b c=d,pid=7,task_memcg=/oomwatch-capture/odd, dir (1)/a,b c=d,pid=7,task=x,task=y) (z,pid=6137,uid=0';
  const withComm = parseSummaryLine(line, 'x,task=y) (z');
  assert.deepEqual(withComm, {
    constraint: 'CONSTRAINT_MEMCG',
    oomMemcg: '/oomwatch-capture/odd, dir (1)/a,b c=d,pid=7',
    globalOom: false,
    taskMemcg: '/oomwatch-capture/odd, dir (1)/a,b c=d,pid=7',
    task: 'x,task=y) (z',
    pid: 6137,
    uid: 0,
  });
  // Without the kill line's comm, the window rule still finds this one.
  assert.equal(parseSummaryLine(line)?.task, 'x,task=y) (z');
});

test('summary: a task_memcg below the oom_memcg, a path holding ",task_memcg=", node lists with commas', () => {
  const s = parseSummaryLine(
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=0-1,cpuset=/a,b,mems_allowed=0-1,3,oom_memcg=/p,task_memcg=/q,task_memcg=/p,task_memcg=/q/c,task=dd,pid=5,uid=7',
    'dd',
  );
  assert.equal(s?.oomMemcg, '/p,task_memcg=/q');
  assert.equal(s?.taskMemcg, '/p,task_memcg=/q/c');
  assert.equal(s?.uid, 7);
});

test('summary: global_oom (system OOM) keeps the task memcg', () => {
  const s = parseSummaryLine(
    'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/system.slice/app, v2.service,task=node,pid=402,uid=1000',
    'node',
  );
  assert.equal(s?.globalOom, true);
  assert.equal(s?.oomMemcg, null);
  assert.equal(s?.taskMemcg, '/system.slice/app, v2.service');
  assert.equal(parseSummaryLine('oom-kill:constraint=CONSTRAINT_NONE,pid=1,uid=0'), undefined);
  assert.equal(parseSummaryLine('oom-kill:constraint=CONSTRAINT_NONE'), undefined);
});

test('legacy Task in line: the split that puts the task inside the limit', () => {
  assert.deepEqual(parseTaskInLine('Task in /a/b killed as a result of limit of /a'), { taskMemcg: '/a/b', oomMemcg: '/a' });
  assert.deepEqual(
    parseTaskInLine('Task in /x killed as a result of limit of /y/z killed as a result of limit of /x'),
    { taskMemcg: '/x killed as a result of limit of /y/z', oomMemcg: '/x' },
  );
  assert.equal(parseTaskInLine('Task in /a is fine'), undefined);
});

test('group line, suppressed callbacks, no killable processes, already exiting', () => {
  assert.equal(parseGroupLine('Tasks in /oomtest/grp are going to be killed due to memory.oom.group set'), '/oomtest/grp');
  assert.equal(parseGroupLine('Tasks in /x are going to be killed'), undefined);
  assert.equal(parseSuppressedLine('oom_kill_process: 12 callbacks suppressed'), 12);
  assert.equal(parseSuppressedLine('net_ratelimit: 12 callbacks suppressed'), undefined);
  assert.ok(isNoKillableLine('Out of memory and no killable processes...'));
  assert.ok(isAlreadyExitingLine('Memory cgroup out of memory: OOM victim 104 (app) is already exiting. Skip killing the task'));
  assert.ok(!isAlreadyExitingLine('OOM victim 104 (app) is already exiting. Skip killing the task'));
});

test('the cheap first test lets every OOM line through and most others not', () => {
  for (const l of [
    'dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
    'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null)',
    `Killed process 1 (a) ${STATS}`,
    'Memory cgroup out of memory: OOM victim 104 (app) is already exiting. Skip killing the task',
    'Task in /a killed as a result of limit of /a',
    'Tasks in /a are going to be killed due to memory.oom.group set',
    'oom_kill_process: 3 callbacks suppressed',
    'Out of memory and no killable processes...',
  ]) {
    assert.ok(mayBeOomLine(l), l);
  }
  assert.ok(!mayBeOomLine('usb 1-1: new high-speed USB device number 2 using xhci_hcd'));
  assert.ok(!mayBeOomLine('abc oom', 5));
});

test('indexOfOomKeyword finds what indexOf finds, from any start', () => {
  const text = fc.string({ unit: fc.constantFrom('i', 'l', 'I', 'L', 'k', ' ', 'é'), maxLength: 30 });
  fc.assert(
    fc.property(text, fc.integer({ min: -3, max: 35 }), (t, from) => {
      assert.equal(indexOfOomKeyword(t, from), t.indexOf(OOM_KEYWORD, from), JSON.stringify([t, from]));
    }),
    { numRuns: 5000 },
  );
  assert.equal(indexOfOomKeyword('Killed process 1 (a)'), 1);
  assert.equal(indexOfOomKeyword('ill', 1), -1);
});
