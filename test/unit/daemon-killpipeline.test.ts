import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { MemorySample } from '../../src/cgroup/sampler.js';
import { parseKmsgRecord } from '../../src/kmsg/record.js';
import type { KmsgEvent } from '../../src/kmsg/reader.js';
import { KillPipeline, type KillLogReader } from '../../src/daemon/killPipeline.js';
import { readState } from '../../src/daemon/state.js';
import { DEFAULT_RECENT_KILLS, RecentKills, readRecentKills } from '../../src/daemon/recentKills.js';
import { parseRfc3339Us, readWallClockOffsetUs } from '../../src/kmsg/wallClock.js';

const BOOT = '5c4b8f3e-0000-4000-8000-000000000001';
const GRACE = 1000;

/** A v1 memcg report of one kill in /batch, as /dev/kmsg records from SEQ 20. */
const REPORT = [
  '4,20,1000,-;hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
  '6,21,1010,-;memory: usage 65536kB, limit 65536kB, failcnt 19',
  '6,22,1020,-;Memory cgroup stats for /batch:',
  '6,23,1030,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/batch,task_memcg=/batch,task=hog,pid=100,uid=0',
  '3,24,1040,-;Memory cgroup out of memory: Killed process 100 (hog) total-vm:134048kB, anon-rss:65280kB, file-rss:1768kB, shmem-rss:0kB, UID:0 pgtables:176kB oom_score_adj:0',
];

const sample = (over: Partial<MemorySample>): MemorySample => ({
  current: 0, max: null, peak: null, workingSet: 0,
  events: { low: null, high: null, max: null, oom: null, oom_kill: null, oom_group_kill: null },
  ownOomKills: 0, ownKilledProcesses: 0, pressure: null, stat: null, ...over,
});

function setup(): { dir: string; registry: Registry; lines: Record<string, unknown>[]; log: Logger; roots: { cgroup: string; proc: string; kmsg: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-pipeline-'));
  const proc = join(dir, 'proc');
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { dir, registry: new Registry(), lines, log, roots: { cgroup: join(dir, 'sys'), proc, kmsg: join(dir, 'kmsg') } };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

test('a kill read from the kernel log: state saved first, then counted and logged with the cgroup memory and the boot id', async () => {
  const { dir, registry, lines, roots } = setup();
  try {
    const stateDir = join(dir, 'state');
    let deliver!: (events: readonly KmsgEvent[]) => void;
    let lastSeq: number | undefined;
    const stateAtKill: (number | undefined)[] = [];
    const logAndCheck = pino({ level: 'debug' }, {
      write: (s: string) => {
        const l = JSON.parse(s) as Record<string, unknown>;
        if (l['event'] === 'oom_kill') stateAtKill.push(readState(stateDir)?.cursor.seq);
        lines.push(l);
      },
    });
    const reader = {
      bootId: BOOT, position: { from: 'end', skipped: 0 }, wakeMode: 'notify', notifierError: undefined,
      done: new Promise<void>(() => undefined),
      cursor: () => (lastSeq === undefined ? undefined : { bootId: BOOT, seq: lastSeq }),
      stats: () => ({ records: 5, foreign: 0, malformed: 0, lost: 0 }),
      stop: async () => undefined,
    } as unknown as KillLogReader;
    const p = new KillPipeline({
      roots, stateDir, graceMs: GRACE, registry, log: logAndCheck, now: () => 0,
      cgroups: { watches: (path) => path === '/batch', usageNow: (path) => (path === '/batch' ? { current: 60, max: 64, peak: 66 } : undefined) },
      openReader: async (o) => {
        deliver = o.onEvents;
        return reader;
      },
    });
    p.restore();
    await p.follow(true);
    assert.equal(lines.filter((l) => l['event'] === 'oom_kill').length, 0, 'the warm-up reports nothing');
    p.cgroupAdded('/batch', true);
    p.sampled('/batch', sample({ ownOomKills: 0 }), 0);
    deliver(REPORT.map((r) => ({ type: 'record', record: parseKmsgRecord(`${r}\n`) })));
    const kills = lines.filter((l) => l['event'] === 'oom_kill');
    assert.equal(kills.length, 1);
    const k = kills[0]!;
    assert.equal(k['pid'], 100);
    assert.equal(k['process'], 'hog');
    assert.equal(k['victim_cgroup'], '/batch');
    assert.equal(k['attributed_by'], 'kmsg');
    assert.equal(k['seq'], 24);
    // The limit is the report's (memory: ... limit 65536kB); usage and peak are the cgroup's now.
    assert.deepEqual([k['cgroup_limit_bytes'], k['cgroup_usage_bytes'], k['cgroup_peak_bytes']], [65536 * 1024, 60, 66]);
    assert.equal(k['boot_id'], BOOT);
    assert.equal(typeof k['detected_mono_us'], 'number');
    // kill_time: the record's kernel time (1040 µs) on this boot's wall clock.
    const killUs = parseRfc3339Us(String(k['kill_time']));
    assert.ok(killUs !== undefined && Math.abs(killUs - 1040 - readWallClockOffsetUs()) < 1_000_000, String(k['kill_time']));
    assert.deepEqual(stateAtKill, [24], 'the cursor past the kill was saved before the line was written');
    assert.equal(await metric(registry, 'oomwatch_oom_kills_total', { cgroup: '/batch' }), 1);

    // The counter increment the kill caused is explained by it; an increment no line explains
    // is exported as unexplained after the grace period.
    p.sampled('/batch', sample({ ownOomKills: 1 }), 10);
    p.cgroupAdded('/other', false);
    p.sampled('/other', sample({ ownOomKills: 2, ownKilledProcesses: 2 }), 10);
    p.afterPoll(10 + GRACE);
    const unexplained = lines.filter((l) => l['event'] === 'oom_kill_unexplained');
    assert.deepEqual(unexplained.map((l) => [l['cgroup'], l['count']]), [['/other', 2]]);
    assert.equal(await metric(registry, 'oomwatch_unexplained_oom_kills_total', { cgroup: '/other' }), 2);
    assert.equal(await metric(registry, 'oomwatch_oom_kills_total', { cgroup: '/batch' }), 1, 'not counted twice');
    assert.deepEqual(p.kmsgStatus(), { up: true, records: 5, lost: 0, foreign: 0, malformed: 0 });
    await p.stop();
    assert.equal(readState(stateDir)?.cursor.seq, 24);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without the kernel log, a cgroup counts the processes killed, not the kernel\'s double count of a group kill', async () => {
  const { dir, registry, lines, log, roots } = setup();
  try {
    const p = new KillPipeline({ roots, stateDir: join(dir, 'state'), graceMs: GRACE, registry, log, now: () => 0, cgroups: { watches: () => true, usageNow: () => undefined } });
    p.restore();
    await p.follow(false);
    p.cgroupAdded('/g', false);
    p.sampled('/g', sample({ ownOomKills: 5, ownKilledProcesses: 4 }), 0);
    p.afterPoll(GRACE);
    assert.deepEqual(lines.filter((l) => l['event'] === 'oom_kill_unexplained').map((l) => l['count']), [4]);
    assert.equal(p.health().kmsg.up, false);
    assert.equal(p.health().kmsg.error, 'disabled in the config (kmsg: false)');
    await p.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unexplained kill in a container's cgroup is named from the container's identity", async () => {
  const { dir, registry, lines, log, roots } = setup();
  try {
    const id = 'e'.repeat(64);
    const cgroup = `/kubepods/burstable/pod0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90/${id}`;
    const identity = { runtime: 'containerd', namespace: 'shop', pod: 'web-0', pod_uid: '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90', container: 'app', image: 'nginx:1', container_name: null, init_pid: 7 } as const;
    const p = new KillPipeline({
      roots, stateDir: join(dir, 'state'), graceMs: GRACE, registry, log, now: () => 0,
      cgroups: { watches: () => true, usageNow: () => undefined },
      identities: { get: (c) => (c === id ? identity : undefined) },
    });
    p.restore();
    await p.follow(false);
    p.cgroupAdded(cgroup, false);
    p.sampled(cgroup, sample({ ownOomKills: 1, ownKilledProcesses: 1 }), 0);
    p.afterPoll(GRACE);
    const line = lines.find((l) => l['event'] === 'oom_kill_unexplained');
    assert.deepEqual([line?.['cgroup'], line?.['namespace'], line?.['pod'], line?.['container']], [cgroup, 'shop', 'web-0', 'app']);
    assert.equal(await metric(registry, 'oomwatch_oom_kills_total', { cgroup, namespace: 'shop', pod: 'web-0', container: 'app', limit: '', main_process: '' }), 1);
    await p.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each kill is recorded before the state is saved; found again after a crash between the two, it is not recorded twice', async () => {
  const { dir, lines, log, roots } = setup();
  try {
    const stateDir = join(dir, 'state');
    const stateFile = join(stateDir, 'state.jsonl');
    /** One run of the daemon's kill path over the same state directory; the reader delivers REPORT. */
    const run = async (): Promise<{ p: KillPipeline; recent: RecentKills; cursorAtRecord: (number | undefined)[]; stateAtRecord: string[] }> => {
      const recent = new RecentKills(stateDir, DEFAULT_RECENT_KILLS, log);
      const cursorAtRecord: (number | undefined)[] = [];
      const stateAtRecord: string[] = [];
      let deliver!: (events: readonly KmsgEvent[]) => void;
      const reader = {
        bootId: BOOT, position: { from: 'end', skipped: 0 }, wakeMode: 'notify', notifierError: undefined,
        done: new Promise<void>(() => undefined), cursor: () => ({ bootId: BOOT, seq: 19 }),
        stats: () => ({ records: 0, foreign: 0, malformed: 0, lost: 0 }), stop: async () => undefined,
      } as unknown as KillLogReader;
      const p = new KillPipeline({
        roots, stateDir, graceMs: GRACE, registry: new Registry(), log, now: () => 0,
        cgroups: { watches: () => true, usageNow: () => undefined },
        recentKills: {
          record: (bootId, k) => {
            cursorAtRecord.push(readState(stateDir)?.cursor.seq);
            stateAtRecord.push(readFileSync(stateFile, 'utf8'));
            return recent.record(bootId, k);
          },
        },
        openReader: async (o) => ((deliver = o.onEvents), reader),
      });
      p.restore();
      recent.open();
      await p.follow(true);
      deliver(REPORT.map((r) => ({ type: 'record', record: parseKmsgRecord(`${r}\n`) })));
      return { p, recent, cursorAtRecord, stateAtRecord };
    };
    const first = await run();
    assert.deepEqual(first.cursorAtRecord, [19], 'recorded while the saved cursor was still before the kill');
    assert.equal(readState(stateDir)?.cursor.seq, 24);
    const recorded = readRecentKills(stateDir);
    assert.equal(recorded.length, 1);
    assert.deepEqual([recorded[0]?.event.pid, recorded[0]?.event.seq, recorded[0]?.names.limit], [100, 24, 'own']);
    assert.ok(recorded[0]?.event.kill_time !== null && recorded[0]?.event.memory_stat !== null, 'the event as built: kill_time and the report\'s account');
    // The daemon dies between the record and the state save: the state on disk is the one before.
    first.recent.close();
    writeFileSync(stateFile, first.stateAtRecord[0] as string);
    const second = await run();
    assert.equal(lines.filter((l) => l['event'] === 'oom_kill' && l['pid'] === 100).length, 2, 'found again, and logged by the second run');
    assert.equal(readFileSync(join(stateDir, 'kills.jsonl'), 'utf8').split('\n').filter((l) => l !== '').length, 1, 'recorded once');
    assert.deepEqual(readRecentKills(stateDir), recorded);
    await Promise.all([first.p.stop(), second.p.stop()]);
    second.recent.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
