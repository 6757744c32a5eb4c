/**
 * One kill's story (src/oom/story.ts) and its text (src/oom/storyText.ts) on hand-made events:
 * the composition as each kernel's keys give it, the candidates' order and oom_score_adj, the
 * group, the advice, and what is said when a field is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OomCandidate } from '../../src/oom/badness.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { groupSiblings, killStory, sameGroupReport, type StoryNames } from '../../src/oom/story.js';
import { storyText } from '../../src/oom/storyText.js';

const M = 1024 * 1024;

function event(over: Partial<OomKillEvent> = {}): OomKillEvent {
  return {
    pid: 100, process: 'app', scope: 'cgroup', constraint: 'CONSTRAINT_MEMCG', oom_cgroup: '/work', victim_cgroup: '/work', uid: 1000,
    total_vm_kb: 200_000, anon_rss_kb: 60_000, file_rss_kb: 1_000, shmem_rss_kb: 0, pgtables_kb: 200, oom_score_adj: 0,
    partial: false, possibly_child: false, group_kill: false, trigger_process: 'app', seq: 7, kernel_time_us: 5_000_000, kill_time: '2026-11-28T05:27:58.000Z', unit: null, runtime: null,
    container_id: null, pod_uid: null, pod_qos: null,
    memory: { usage: 64 * M, limit: 64 * M, failcnt: 12, swap: { usage: 0, limit: 'max', failcnt: 0 }, memsw: null, kmem: null },
    memory_stat: null, mem_info: null, candidates: null, candidates_total: null,
    ...over,
  };
}

function cand(pid: number, rssPages: number, adj: number, badness: number | null, victim = false, process = 'app'): OomCandidate {
  return {
    pid, tgid: pid, uid: 0, process, total_vm_pages: rssPages * 2, rss_pages: rssPages, rss_anon_pages: null, rss_file_pages: null,
    rss_shmem_pages: null, pgtables_bytes: 0, swapents: 0, oom_score_adj: adj, badness, victim,
  };
}

const NAMES: StoryNames = { namespace: 'shop', pod: 'cart-7d9', container: 'cart', image: 'cart:1.2', container_name: 'k8s_cart', limit: 'container', main_process: false };

test('v2 stat block: page cache is file - shmem, kernel and sock apart, largest first, shares of the usage, the rest not broken down', () => {
  const s = killStory(event({ memory_stat: { anon: 10 * M, file: 40 * M, shmem: 30 * M, kernel: 6 * M, sock: 2 * M, slab: 4 * M, file_dirty: 1 * M, pgfault: 99 } }));
  const c = s.composition;
  assert.ok(c !== null);
  assert.equal(c.source, 'cgroup-v2');
  assert.equal(c.total_is, 'usage');
  assert.deepEqual(c.parts.map((p) => [p.kind, p.bytes / M, p.from]), [
    ['shmem', 30, 'shmem'],
    ['anon', 10, 'anon'],
    ['page_cache', 10, 'file - shmem'],
    ['kernel', 6, 'kernel'],
    ['not_broken_down', 6, 'usage - the other parts'],
    ['sock', 2, 'sock'],
  ]);
  assert.equal(c.parts[0]?.share, 30 / 64);
  assert.equal(c.detail.slab, 4 * M);
  // pgfault is a count, not memory: never a part or a detail.
  assert.equal(c.detail.pgfault, undefined);
  assert.equal(s.advice.find((a) => a.kind === 'shmem')?.kind, 'shmem');
  assert.match(storyText(s), /shmem\/tmpfs\s+30\.0M\s+46\.9%\s+shmem/);
});

test('v1 stat block: total_* keys (the subtree) win over the cgroup\'s own, kmem is the kernel part; without total_* the own pages are said to be only that', () => {
  const memory = { usage: 64 * M, limit: 64 * M, failcnt: 3, swap: null, memsw: { usage: 64 * M, limit: 64 * M, failcnt: 1 }, kmem: { usage: 1 * M, limit: 'max' as const, failcnt: 0 } };
  const sub = killStory(event({ memory, memory_stat: { cache: 0, rss: 0, shmem: 0, total_cache: 20 * M, total_rss: 40 * M, total_shmem: 5 * M, total_dirty: 3 * M } }));
  assert.equal(sub.composition?.source, 'cgroup-v1');
  assert.equal(sub.composition?.subtree, true);
  assert.deepEqual(sub.composition?.parts.map((p) => [p.kind, p.bytes / M]), [['anon', 40], ['page_cache', 15], ['shmem', 5], ['not_broken_down', 3], ['kernel', 1]]);
  assert.equal(sub.limit.memsw_at_limit, true);
  assert.ok(sub.advice.some((a) => a.kind === 'swap'));
  const own = killStory(event({ memory, memory_stat: { cache: 2 * M, rss: 8 * M } }));
  assert.equal(own.composition?.subtree, false);
  assert.deepEqual(own.composition?.parts.map((p) => [p.kind, p.bytes / M, p.from]), [
    ['not_broken_down', 53, 'usage - the other parts'],
    ['anon', 8, 'rss'],
    ['page_cache', 2, 'cache'],
    ['kernel', 1, 'kmem usage'],
  ]);
  assert.match(storyText(own), /the cgroup's own pages only/);
});

test('page cache largest: the advice names the dirty and writeback pages', () => {
  const s = killStory(event({ memory_stat: { anon: 4 * M, file: 58 * M, shmem: 0, file_dirty: 20 * M, file_writeback: 4 * M } }));
  assert.equal(s.composition?.parts[0]?.kind, 'page_cache');
  assert.match(s.advice.find((a) => a.kind === 'page_cache')?.text ?? '', /24\.0M dirty or under writeback/);
});

test('system OOM: Mem-Info parts (anon LRU less shmem), shares of RAM - reserved, free and swap', () => {
  const s = killStory(
    event({
      scope: 'system', constraint: 'CONSTRAINT_NONE', oom_cgroup: null, memory: null,
      mem_info: { active_anon: 10 * M, inactive_anon: 300 * M, active_file: 20 * M, inactive_file: 10 * M, shmem: 60 * M, slab_reclaimable: 8 * M, slab_unreclaimable: 4 * M, pagetables: 2 * M, free: 3 * M, ram: 512 * M, reserved: 32 * M, total_swap: 0, free_swap: 0 },
    }),
  );
  assert.equal(s.limit.fired, 'none');
  const c = s.composition;
  assert.equal(c?.source, 'system');
  assert.equal(c?.total_bytes, 480 * M);
  assert.deepEqual(c?.parts.map((p) => [p.kind, p.bytes / M]), [['anon', 250], ['shmem', 60], ['page_cache', 30], ['kernel', 14]]);
  assert.equal(s.advice[0]?.kind, 'system');
  assert.match(storyText(s), /free 3\.0M, no swap/);
});

test('candidates: the ratio to the next, and oom_score_adj that put the victim first is found', () => {
  // 1000 domain pages / 1000 = 1 point per unit of adj: victim 100 pages + 500 = 600 beats 400.
  const s = killStory(event({ oom_score_adj: 500, anon_rss_kb: 400, file_rss_kb: 0, candidates: [cand(100, 100, 500, 600, true), cand(200, 400, 0, 400), cand(300, 50, -1000, null)], candidates_total: 3 }));
  const c = s.candidates;
  assert.ok(c !== null);
  assert.equal(c.victim_rank, 0);
  assert.equal(c.next?.pid, 200);
  assert.equal(c.ratio_to_next, 1.5);
  assert.equal(c.adj_changed_order, true);
  assert.equal(c.first_without_adj?.pid, 200);
  assert.deepEqual(c.exempt, [300]);
  const text = storyText(s);
  assert.match(text, /1\.5× those of the next, pid 200 "app" \(400\)/);
  assert.match(text, /without it pid 200 "app" would have had the most points \(400\)/);
  assert.match(text, /Never killed \(oom_score_adj -1000\): pid 300/);
  assert.ok(s.advice.some((a) => a.kind === 'oom_score_adj' && /500/.test(a.text)));
});

test('candidates: the same order without oom_score_adj is said so; no adj at all, order by size', () => {
  const same = killStory(event({ anon_rss_kb: 4000, file_rss_kb: 0, candidates: [cand(100, 1000, 0, 1000, true), cand(200, 400, 100, 500)], candidates_total: 2 }));
  assert.equal(same.candidates?.adj_changed_order, false);
  assert.match(storyText(same), /oom_score_adj \(200: 100\) did not change who came first/);
  const none = killStory(event({ anon_rss_kb: 4000, file_rss_kb: 0, candidates: [cand(100, 1000, 0, 1000, true), cand(200, 400, 0, 400)], candidates_total: 9 }));
  assert.match(storyText(none), /order is by size alone/);
  assert.match(storyText(none), /The first 2 of the 9 tasks, in the kernel's order:/);
});

test('a group kill: siblings found in a list of events, the member that was not chosen says who was, and the advice names memory.oom.group', () => {
  const mem = { usage: 32 * M, limit: 32 * M, failcnt: 80, swap: { usage: 0, limit: 'max' as const, failcnt: 0 }, memsw: null, kmem: null };
  const table = (victim: number): OomCandidate[] => [cand(109, 8000, 0, 8000, victim === 109, 'dd'), cand(107, 2, 0, 2, victim === 107, 'sleep')];
  const other = event({ pid: 50, group_kill: false, oom_cgroup: '/elsewhere', memory: mem });
  const a = event({ pid: 109, process: 'dd', group_kill: true, oom_cgroup: '/grp', victim_cgroup: '/grp/a', memory: mem, candidates: table(109), candidates_total: 2 });
  const b = event({ pid: 107, process: 'sleep', group_kill: true, oom_cgroup: '/grp', victim_cgroup: null, memory: mem, memory_stat: { anon: 31 * M, file: 0 }, candidates: table(107), candidates_total: 2 });
  const later = event({ pid: 300, group_kill: true, oom_cgroup: '/grp', memory: { ...mem, failcnt: 95 }, candidates_total: 2 });
  const events = [other, a, b, later];
  assert.equal(sameGroupReport(a, b), true);
  assert.equal(sameGroupReport(b, later), false);
  assert.deepEqual(groupSiblings(events, 2).map((e) => e.pid), [109]);
  assert.deepEqual(groupSiblings(events, 0), []);
  const s = killStory(b, { siblings: groupSiblings(events, 2) });
  assert.deepEqual(s.group.killed_with_it, [{ pid: 109, process: 'dd', victim_cgroup: '/grp/a' }]);
  const text = storyText(s);
  assert.match(text, /The kernel chose pid 109 "dd" \(8000 points\); this process \(2 points\) died with it/);
  assert.match(text, /killed 1 other process with it:\n {4}pid 109 "dd" in \/grp\/a/);
  assert.ok(s.advice.some((a) => a.kind === 'oom_group' && /memory\.oom\.group was set on \/grp/.test(a.text)));
  // The largest task, not the sleeping member, is where a heap profile looks.
  assert.match(s.advice.find((x) => x.kind === 'anon')?.text ?? '', /a heap profile of pid 109 "dd" \(the largest task\) tells which/);
});

test('v2, several tasks, one killed: memory.oom.group is suggested; never on v1', () => {
  const v2 = killStory(event({ memory_stat: { anon: 60 * M, file: 0 }, candidates: [cand(100, 100, 0, 100, true), cand(101, 50, 0, 50)], candidates_total: 4 }));
  assert.match(v2.advice.find((a) => a.kind === 'oom_group')?.text ?? '', /4 tasks were in the OOM cgroup .* memory\.oom\.group=1 on \/work/);
  const v1 = killStory(event({ memory: { usage: 64 * M, limit: 64 * M, failcnt: 1, swap: null, memsw: { usage: 64 * M, limit: 'max', failcnt: 0 }, kmem: null }, memory_stat: { rss: 60 * M, cache: 0 }, candidates: [cand(100, 100, 0, 100, true), cand(101, 50, 0, 50)], candidates_total: 4 }));
  assert.equal(v1.advice.some((a) => a.kind === 'oom_group'), false);
  assert.equal(v2.limit.cgroup_version, 2);
  assert.equal(v1.limit.cgroup_version, 1);
  assert.match(v1.advice.find((a) => a.kind === 'raise_limit')?.text ?? '', /raise the limit of \/work \(memory\.limit_in_bytes; oomwatch cgroup set NAME --memory SIZE, now 64\.0M\)/);
  assert.match(v2.advice.find((a) => a.kind === 'raise_limit')?.text ?? '', /\(memory\.max; /);
});

test("the daemon's names: its limit and main_process are used, the owner shows namespace/pod and the container's name and image", () => {
  const s = killStory(
    event({ victim_cgroup: '/kubepods/burstable/pod0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90/3b1f0e9c8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c', oom_cgroup: '/kubepods/burstable/pod0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90/3b1f0e9c8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c', pod_uid: '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90', pod_qos: 'burstable', container_id: '3b1f0e9c8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c', runtime: 'containerd' }),
    { names: NAMES, detectedAt: '2026-11-28T06:00:00.000Z' },
  );
  assert.equal(s.limit.fired, 'container');
  assert.equal(s.detected_at, '2026-11-28T06:00:00.000Z');
  const text = storyText(s);
  assert.match(text, /owner {4}pod shop\/cart-7d9, uid 0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90, QoS burstable/);
  assert.match(text, /owner {4}containerd container cart \(3b1f0e9c8d7a\), image cart:1\.2/);
  assert.match(text, /It hit the container's own memory limit\./);
  assert.ok(s.advice.some((a) => a.kind === 'main_process'));
  assert.ok(s.advice.some((a) => a.kind === 'raise_limit' && /resources\.limits\.memory/.test(a.text) && /now 64\.0M/.test(a.text)));
});

test('a bare kill line: every missing part is said missing, nothing invented, no null/undefined/NaN in the text', () => {
  const bare = event({
    scope: null, constraint: null, oom_cgroup: null, victim_cgroup: null, uid: null, total_vm_kb: null, anon_rss_kb: null, file_rss_kb: null,
    shmem_rss_kb: null, pgtables_kb: null, oom_score_adj: null, trigger_process: null, seq: null, kernel_time_us: null, kill_time: null, memory: null,
  });
  const flagged = { ...bare, partial: true, possibly_child: true } as OomKillEvent;
  const s = killStory(flagged);
  assert.equal(s.composition, null);
  assert.equal(s.candidates, null);
  assert.equal(s.limit.fired, null);
  assert.equal(s.group.report_seen, false);
  assert.deepEqual(s.advice, []);
  const text = storyText(s);
  assert.doesNotMatch(text, /undefined|NaN|null/);
  assert.match(text, /at an unknown time/);
  assert.match(text, /Who died with it\n {2}Unknown: the kill's report was not in the input\./);
  for (const m of [/could not be read whole/, /sacrifice child/, /no wall-clock time/, /stat block .* was not in the input/, /task table was not in the input/, /whether a cgroup limit or the whole system/]) {
    assert.ok(s.missing.some((x) => m.test(x)), `missing says ${m}`);
  }
});

test("a victim outside the kept candidates, and the kill line's oom_score_adj missing: the table row's is used", () => {
  const s = killStory(event({ oom_score_adj: null, candidates: [cand(1, 900, 0, 900), cand(2, 800, 0, 800)], candidates_total: 12 }));
  assert.equal(s.candidates?.victim_rank, null);
  assert.equal(s.oom_score_adj, null);
  assert.match(storyText(s), /It was not among the 2 tasks with the most points \(of 12 in the report's table\)\./);
  const legacy = killStory(event({ oom_score_adj: null, anon_rss_kb: 400, file_rss_kb: 0, candidates: [cand(100, 100, 969, 1000, true)], candidates_total: 1 }));
  assert.equal(legacy.oom_score_adj, 969);
});

test('a BestEffort pod: the QoS class is named in the advice', () => {
  const s = killStory(event({ pod_uid: '7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f', pod_qos: 'besteffort' }));
  assert.match(s.advice.find((a) => a.kind === 'qos')?.text ?? '', /BestEffort .* memory requests/);
  assert.equal(killStory(event({ pod_qos: 'burstable' })).advice.some((a) => a.kind === 'qos'), false);
});
