/**
 * The parser over real cgroup v2 captures from the qemu VM (Debian 6.1, cgroup_no_v1=all):
 * test/fixtures/oom/v2-real/ (README there: how they were made; the pids and the kernel's counters
 * come from the capture script, not from the log).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKmsgRecord, type KmsgRecord } from '../../src/kmsg/record.js';
import { OomReportParser, type OomParserStats } from '../../src/oom/report.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'oom', 'v2-real');

/** The raw /dev/kmsg records of a capture (continuation lines start with a space). */
function records(name: string): KmsgRecord[] {
  const raw: string[] = [];
  for (const line of readFileSync(join(DIR, name), 'utf8').split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ') && raw.length > 0) raw[raw.length - 1] += `\n${line}`;
    else raw.push(line);
  }
  return raw.map((r) => parseKmsgRecord(`${r}\n`, name));
}

/** Parse records as a live reader would: `idle()` after each batch (batches end after the indexes in `cuts`). */
function parse(
  recs: readonly KmsgRecord[],
  cuts: readonly number[] = [],
): { events: OomKillEvent[]; repeated: OomKillEvent[]; stats: OomParserStats } {
  const events: OomKillEvent[] = [];
  const repeated: OomKillEvent[] = [];
  const p = new OomReportParser({ onKill: (e) => events.push(e), onRepeatedKill: (e) => repeated.push(e) });
  for (const [i, r] of recs.entries()) {
    p.pushRecord(r);
    if (cuts.includes(i)) p.idle();
  }
  p.end();
  return { events, repeated, stats: p.stats };
}

test('v2-real/memcg.kmsg: limit on /cap-memcg, hog dd 106 in /cap-memcg/work', () => {
  const { events, stats } = parse(records('memcg.kmsg'));
  assert.equal(events.length, 1);
  const { memory_stat: stat, ...e } = events[0] as OomKillEvent;
  assert.deepEqual(e, {
    pid: 106, process: 'dd', scope: 'cgroup', constraint: 'CONSTRAINT_MEMCG', oom_cgroup: '/cap-memcg',
    victim_cgroup: '/cap-memcg/work', uid: 0, total_vm_kb: 67796, anon_rss_kb: 32616, file_rss_kb: 4,
    shmem_rss_kb: 1580, pgtables_kb: 100, oom_score_adj: 0, group_kill: false, partial: false, possibly_child: false, trigger_process: 'dd', seq: 440,
    kernel_time_us: 6667331, kill_time: null, unit: null, runtime: null, container_id: null, pod_uid: null, pod_qos: null,
    // `memory: usage 32768kB, limit 32768kB, failcnt 81`, `swap: usage 0kB, limit 9007199254740988kB, failcnt 0`
    memory: {
      usage: 33554432, limit: 33554432, failcnt: 81, swap: { usage: 0, limit: 'max', failcnt: 0 }, memsw: null, kmem: null,
    },
    mem_info: null,
    // `[    106]     0   106    16949     8550   102400        0             0 dd`: 8550 + 102400 / 4096
    candidates: [
      {
        pid: 106, tgid: 106, uid: 0, process: 'dd', total_vm_pages: 16949, rss_pages: 8550, rss_anon_pages: null,
        rss_file_pages: null, rss_shmem_pages: null, pgtables_bytes: 102400, swapents: 0, oom_score_adj: 0,
        badness: 8575, victim: true,
      },
    ],
    candidates_total: 1,
  });
  // The stat block is one record whose lines the kernel joined with `\x0a`.
  assert.ok(stat !== null);
  assert.deepEqual(Object.keys(stat).slice(0, 4), ['anon', 'file', 'kernel', 'kernel_stack']);
  assert.deepEqual([stat.anon, stat.kernel, stat.pagetables, stat.percpu], [33468416, 86016, 73728, 5352]);
  assert.equal(stat.thp_collapse_alloc, 0);
  assert.deepEqual([stats.reports, stats.kills, stats.lost, stats.foreign, stats.headerlessKills], [1, 1, 0, 0, 0]);
});

test('v2-real/group-kill.kmsg: memory.oom.group on /cap-group, three processes, each once, all group_kill', () => {
  const recs = records('group-kill.kmsg');
  const { events, repeated, stats } = parse(recs);
  assert.deepEqual(
    events.map((e) => [e.pid, e.process, e.group_kill, e.victim_cgroup, e.oom_cgroup, e.seq]),
    [
      [109, 'dd', true, '/cap-group/a', '/cap-group', 502],
      // The kernel names no member's own cgroup (cap-group/a for 107, cap-group/b for 108).
      [107, 'sleep', true, null, '/cap-group', 504],
      [108, 'sleep', true, null, '/cap-group', 506],
    ],
  );
  assert.ok(events.every((e) => e.trigger_process === 'dd' && e.scope === 'cgroup' && e.constraint === 'CONSTRAINT_MEMCG'));
  // The kernel's memory.events oom_kill on /cap-group read 4 after it: it counts the first
  // victim's repeated line (record 505) too.
  assert.equal(stats.kills, 3);
  assert.equal(stats.duplicateKills, 1);
  assert.equal(stats.kills + stats.duplicateKills, 4);
  // The repeated line is handed over with the event already reported for it (and its cgroup,
  // /cap-group/a, whose memory.events.local oom_kill read 3: the hog twice and sleep 107).
  assert.deepEqual(repeated, [events[0]]);
  assert.equal(stats.reports, 1);
});

test('v2-real/group-kill.kmsg read live, cut into two batches anywhere: never a process twice, never one missed', () => {
  const recs = records('group-kill.kmsg');
  for (let cut = 0; cut < recs.length - 1; cut++) {
    const { events, repeated } = parse(recs, [cut]);
    assert.deepEqual(events.map((e) => e.pid).sort(), [107, 108, 109], `cut after record ${recs[cut]?.seq}`);
    assert.deepEqual(repeated.map((e) => [e.pid, e.victim_cgroup]), [[109, '/cap-group/a']], `cut after record ${recs[cut]?.seq}`);
    assert.ok(events.slice(1).every((e) => e.group_kill), `cut after record ${recs[cut]?.seq}: members are group kills`);
  }
});

test('v2-real/global-oom.kmsg: a system OOM (global_oom) keeps the victim\'s cgroup /cap-global', () => {
  const { events, stats } = parse(records('global-oom.kmsg'));
  assert.equal(events.length, 1);
  const e = events[0] as OomKillEvent;
  assert.deepEqual(
    [e.pid, e.process, e.scope, e.constraint, e.oom_cgroup, e.victim_cgroup, e.oom_score_adj, e.total_vm_kb, e.anon_rss_kb],
    [110, 'dd', 'system', 'CONSTRAINT_NONE', null, '/cap-global', 1000, 452820, 318528],
  );
  assert.equal(e.trigger_process, 'dd');
  assert.equal(e.seq, 581);
  assert.equal(stats.reports, 1);
});
