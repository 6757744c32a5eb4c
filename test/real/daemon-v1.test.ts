import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { constants, existsSync, readFileSync, readSync, mkdirSync, openSync, closeSync, writeSync, writeFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG, oomControl } from '../helpers/v1cgroup.js';
import { startDaemon, tempDir, type DaemonProcess, type LogLine } from '../helpers/daemon.js';
import { BIN } from '../helpers/cli.js';

const M = 2 ** 20;
const made: string[] = [];
function cgroupName(label: string): string {
  const n = uniqueTestName(label);
  made.push(join(V1_MEMORY_MOUNT, n));
  return n;
}

/** Run a hog in the cgroup (which must exist) and return its pid once the kernel killed it. */
async function oomKill(name: string): Promise<number> {
  const child = spawnInCgroup(join(V1_MEMORY_MOUNT, name), HOG);
  const r = await exited(child);
  assert.equal(r.signal, 'SIGKILL', `the hog in ${name} was OOM-killed`);
  return child.pid as number;
}

const killsOf = (d: DaemonProcess, cgroup: string): LogLine[] => d.logs.filter((l) => l.event === 'oom_kill' && l['victim_cgroup'] === cgroup);

describe('oomwatch daemon on the real v1 kernel', realKernel(), () => {
  const state = tempDir('daemon');
  const declared = cgroupName('declared');
  let d: DaemonProcess;

  before(async () => {
    d = await startDaemon({
      stateDir: state.dir,
      config: `cgroups:\n  - name: ${declared}\n    memory: 64M\nwarn: {working_set_ratio: 0.5, hysteresis: 0.1}\n`,
    });
  });
  after(async () => {
    await d?.stop();
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
    state.remove();
  });

  test('a declared cgroup is created with its limit, its kill counter starts at 0', async () => {
    assert.equal(oomControl(join(V1_MEMORY_MOUNT, declared))['oom_kill'], 0);
    assert.equal(await d.total('oomwatch_oom_kills_total', { cgroup: `/${declared}` }), 0);
    const limit = await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: `/${declared}` }, (v) => v !== undefined);
    assert.equal(limit, 64 * M);
    const health = JSON.parse(await d.scrape('/healthz'));
    assert.equal(health.status, 'ok');
    assert.equal(health.kmsg.up, true);
    assert.equal(health.kmsg.wake, 'notify', `the reader polls: ${health.kmsg.why_poll}`);
    assert.deepEqual(health.declared[`/${declared}`], { ok: true, error: null });
  });

  test('a real OOM kill in the declared cgroup: counter 1, labels, one JSON log line with the contract', async () => {
    const pid = await oomKill(declared);
    const diedAtMs = Date.now();
    const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === pid, 10_000, `the kill of ${pid}`);
    assert.ok(Math.abs(Date.parse(String(line['kill_time'])) - diedAtMs) < 1000, `kill_time ${String(line['kill_time'])}, hog seen dead at ${new Date(diedAtMs).toISOString()}`);
    assert.equal(line['victim_cgroup'], `/${declared}`);
    assert.equal(line['oom_cgroup'], `/${declared}`);
    assert.equal(line['process'], 'dd');
    assert.equal(line['scope'], 'cgroup');
    assert.equal(line['cgroup_limit_bytes'], 64 * M);
    // Read as the line is written (memory.usage_in_bytes, memory.max_usage_in_bytes): the hog drove the peak to the limit.
    const peak = line['cgroup_peak_bytes'] as number;
    assert.ok(peak > 60 * M && peak <= 64 * M, `cgroup_peak_bytes ${peak}: the hog reached the 64M limit`);
    assert.ok((line['cgroup_usage_bytes'] as number) <= peak, 'usage within the peak');
    assert.equal(typeof line['boot_id'], 'string');
    assert.equal(typeof line['seq'], 'number');
    // The kernel's account of the kill rides on the same line (one JSON line, parsed as one).
    const memory = line['memory'] as { usage: number; limit: number; failcnt: number } | null;
    assert.equal(memory?.limit, 64 * M);
    assert.ok(memory.failcnt > 0);
    const stat = line['memory_stat'] as Record<string, number> | null;
    assert.ok(stat !== null && stat['total_rss'] !== undefined, 'the v1 stat block, total_* included');
    const candidates = line['candidates'] as { pid: number; victim: boolean; badness: number }[] | null;
    assert.ok(candidates !== null && candidates.length >= 1);
    assert.deepEqual([candidates[0]?.pid, candidates[0]?.victim], [pid, true], 'the victim has the highest badness');
    assert.ok((line['candidates_total'] as number) >= candidates.length);
    assert.equal(await d.total('oomwatch_oom_kills_total', { cgroup: `/${declared}` }), 1);
    const kill = (await d.samples()).find((s) => s.name === 'oomwatch_oom_kills_total' && s.labels['cgroup'] === `/${declared}`);
    assert.deepEqual(Object.keys(kill?.labels ?? {}).sort(), ['cgroup', 'container', 'container_id', 'limit', 'main_process', 'namespace', 'pod', 'pod_uid', 'runtime', 'scope', 'unit']);
    assert.equal(await d.waitForMetric('oomwatch_cgroup_memory_events_total', { cgroup: `/${declared}`, event: 'oom_kill' }, (v) => v === 1), 1);
    assert.equal(killsOf(d, `/${declared}`).length, 1);
  });

  test('a cgroup created after the start is discovered; its kill is counted; Kubernetes owner labels', async () => {
    const uid = '0f0e0d0c-1111-2222-3333-444455556666';
    const name = cgroupName('discovered');
    const pod = `${name}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${'ab'.repeat(32)}.scope`;
    mkdirSync(join(V1_MEMORY_MOUNT, pod), { recursive: true });
    writeFileSync(join(V1_MEMORY_MOUNT, pod, 'memory.limit_in_bytes'), String(64 * M));
    await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: `/${pod}` }, (v) => v === 64 * M);
    const pid = await oomKill(pod);
    const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === pid, 10_000, `the kill of ${pid}`);
    assert.equal(line['pod_uid'], uid);
    assert.equal(line['runtime'], 'containerd');
    assert.equal(await d.total('oomwatch_oom_kills_total', { cgroup: `/${pod}`, pod_uid: uid, runtime: 'containerd', container_id: 'ab'.repeat(32) }), 1);
  });

  test('a storm of 30 parallel hogs in one 24M cgroup counts 30, as the kernel does', async () => {
    const name = cgroupName('storm');
    mkdirSync(join(V1_MEMORY_MOUNT, name), { recursive: true });
    writeFileSync(join(V1_MEMORY_MOUNT, name, 'memory.limit_in_bytes'), String(24 * M));
    const hogs = Array.from({ length: 30 }, () => spawnInCgroup(join(V1_MEMORY_MOUNT, name), HOG));
    const results = await Promise.all(hogs.map(exited));
    assert.ok(results.every((r) => r.signal === 'SIGKILL'), `every hog OOM-killed: ${JSON.stringify(results.filter((r) => r.signal !== 'SIGKILL'))}`);
    const kernel = oomControl(join(V1_MEMORY_MOUNT, name))['oom_kill'];
    assert.equal(kernel, 30, 'the kernel counted 30 kills');
    // On a miss, the daemon's lines about this cgroup say which kills it logged and how.
    const stormLines = (): string => JSON.stringify(d.logs.filter((l) => l['victim_cgroup'] === `/${name}` || l['cgroup'] === `/${name}`).map((l) => [l.event, l['pid'], l['attributed_by'], l['count']]));
    const counted = await d.waitForTotal('oomwatch_oom_kills_total', { cgroup: `/${name}` }, (v) => v === 30, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}; the daemon's lines on /${name}: ${stormLines()}`, { cause: err });
    });
    assert.equal(counted, 30);
    // Each hog is logged once, with this cgroup, whether the report named it or the counter did.
    const pids = new Set(hogs.map((h) => h.pid));
    // The counter can be scraped before the last log lines have come through stdout's pipe.
    for (const pid of pids) await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === pid, 15_000, `the log line of ${pid}`);
    const lines = d.logs.filter((l) => l.event === 'oom_kill' && pids.has(l['pid'] as number));
    assert.equal(lines.length, 30);
    assert.equal(new Set(lines.map((l) => l['pid'])).size, 30);
    assert.ok(lines.every((l) => l['victim_cgroup'] === `/${name}`));
    // The kernel prints at most 10 report headers per 5 s host-wide (oom_kill.c's oom_rs): a storm of
    // 30 within 5 s leaves kill lines without theirs, attributed from the cgroup's counter.
    assert.ok(lines.some((l) => l['trigger_process'] === null), `some kill lines of the storm had no header: ${JSON.stringify(lines.map((l) => [l['pid'], l['attributed_by'], l['kernel_time_us']]))}`);
  });

  test('a forged kill line written to /dev/kmsg by root counts nothing', async () => {
    const fake = `/${cgroupName('forged')}`;
    const before = await d.metric('oomwatch_kmsg_foreign_records_total');
    const fd = openSync('/dev/kmsg', 'w');
    try {
      writeSync(fd, `<3>Memory cgroup out of memory: Killed process 4242 (forged) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n`);
    } finally {
      closeSync(fd);
    }
    const fd2 = openSync('/dev/kmsg', 'w');
    try {
      writeSync(fd2, `<4>oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${fake},task_memcg=${fake},task=forged,pid=4242,uid=0\n`);
    } finally {
      closeSync(fd2);
    }
    await d.waitForMetric('oomwatch_kmsg_foreign_records_total', {}, (v) => (v ?? 0) >= (before ?? 0) + 2);
    assert.equal(d.logs.filter((l) => l.event === 'oom_kill' && l['pid'] === 4242).length, 0);
    assert.equal((await d.samples()).filter((s) => s.name === 'oomwatch_oom_kills_total' && s.labels['cgroup'] === fake).length, 0);
  });

  test('a cgroup removed while watched leaves /metrics without errors', async () => {
    const name = cgroupName('removed');
    mkdirSync(join(V1_MEMORY_MOUNT, name), { recursive: true });
    await d.waitForMetric('oomwatch_cgroup_memory_usage_bytes', { cgroup: `/${name}` }, (v) => v !== undefined);
    rmdirSync(join(V1_MEMORY_MOUNT, name));
    const v = await d.waitForMetric('oomwatch_cgroup_memory_usage_bytes', { cgroup: `/${name}` }, (x) => x === undefined);
    assert.equal(v, undefined);
    assert.equal(await d.metric('oomwatch_collector_success', { collector: 'cgroup_memory' }), 1);
    assert.equal(d.logs.filter((l) => l.event === 'cgroup_read_error').length, 0);
  });

  test('working set over the configured ratio logs a near_limit warning', async () => {
    const name = cgroupName('near');
    mkdirSync(join(V1_MEMORY_MOUNT, name), { recursive: true });
    writeFileSync(join(V1_MEMORY_MOUNT, name, 'memory.limit_in_bytes'), String(128 * M));
    // Holds ~80 MiB (touched) in a 128 MiB cgroup: 0.6 > 0.5.
    const holder = spawnInCgroup(join(V1_MEMORY_MOUNT, name), ['python3', '-c', 'import time; b = b"x" * (80 * 2**20); time.sleep(30)']);
    try {
      const line = await d.waitForLog((l) => l.event === 'near_limit' && l['cgroup'] === `/${name}`, 15_000, 'the near_limit warning');
      assert.ok((line['ratio'] as number) >= 0.5);
      assert.equal(line['limit_bytes'], 128 * M);
    } finally {
      holder.kill('SIGKILL');
      await exited(holder);
    }
  });
});

describe('oomwatch daemon restarts: nothing replayed, nothing lost', realKernel(), () => {
  const state = tempDir('restart');
  after(async () => {
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
    state.remove();
  });

  test('kill -9, kills while down, restart: exactly those kills are counted, none twice', async () => {
    const name = cgroupName('restart');
    mkdirSync(join(V1_MEMORY_MOUNT, name), { recursive: true });
    writeFileSync(join(V1_MEMORY_MOUNT, name, 'memory.limit_in_bytes'), String(64 * M));
    const first = await startDaemon({ stateDir: state.dir });
    let second: DaemonProcess | undefined;
    try {
      const before = await oomKill(name);
      await first.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === before, 10_000, 'the kill before the crash');
      assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');
      const saved = readFileSync(join(state.dir, 'state.jsonl'), 'utf8');
      const downSinceMs = Date.now();
      const whileDown = [await oomKill(name), await oomKill(name)];
      const secondStartMs = Date.now();
      second = await startDaemon({ stateDir: state.dir });
      for (const pid of whileDown) {
        const line = await second.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === pid, 10_000, `the replayed kill of ${pid}`);
        // Found after the restart, it carries its own time: while the daemon was down.
        const killMs = Date.parse(String(line['kill_time']));
        assert.ok(killMs >= downSinceMs - 1000 && killMs < secondStartMs, `kill_time ${String(line['kill_time'])} of ${pid}: not between ${new Date(downSinceMs).toISOString()} and the restart at ${new Date(secondStartMs).toISOString()}`);
      }
      const seen = () => JSON.stringify(second?.logs.filter((l) => String(l.event).startsWith('oom_kill') || String(l.event).startsWith('state')).map((l) => [l.event, l['pid'], l['attributed_by'], l['seq'], l['cgroup'] ?? l['victim_cgroup'], l['count']]));
      assert.equal(await second.waitForTotal('oomwatch_oom_kills_total', { cgroup: `/${name}` }, (v) => v === 2), 2, `before ${before}, while down ${whileDown}: ${seen()}; first: ${JSON.stringify(first.logs.filter((l) => l.event === 'oom_kill').map((l) => [l['pid'], l['attributed_by'], l['seq']]))}; saved ${saved}`);
      // Give the ledger its grace period: nothing more may appear.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await second.total('oomwatch_oom_kills_total', { cgroup: `/${name}` }), 2);
      assert.equal(killsOf(second, `/${name}`).length, 2);
      assert.equal(second.logs.filter((l) => l.event === 'oom_kill' && l['pid'] === before).length, 0, 'the kill before the crash is not replayed');
      assert.equal(oomControl(join(V1_MEMORY_MOUNT, name))['oom_kill'], 3);
      const stopped = await second.stop('SIGTERM');
      assert.equal(stopped.code, 0, 'SIGTERM exits 0');
    } finally {
      await first.stop('SIGKILL');
      await second?.stop('SIGKILL');
    }
  });
});

describe('oomwatch daemon refuses a bad config', () => {
  test('exit 2 naming the file and the key path; nothing started', () => {
    const t = tempDir('badcfg');
    try {
      const file = join(t.dir, 'bad.yml');
      writeFileSync(file, 'cgroups:\n  - name: ok\n  - name: x\n    memory: 12 parsecs\n');
      const r = spawnSync(process.execPath, [BIN, 'daemon', '--config', file, '--listen', '127.0.0.1:0', '--state-dir', t.dir], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}: cgroups\\[1\\]\\.memory: .*"12 parsecs" is not a size`));
      assert.equal(r.stdout, '');
      assert.equal(existsSync(join(t.dir, 'state.jsonl')), false);
    } finally {
      t.remove();
    }
  });
});

/** The SEQ of the oldest record in the kernel log now, and of the last. */
function kmsgSeqs(): { oldest: number; last: number } {
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  const seqs: number[] = [];
  try {
    for (;;) {
      try {
        seqs.push(Number(buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, null)).split(',')[1]));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return { oldest: seqs[0] ?? -1, last: seqs[seqs.length - 1] ?? -1 };
        if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Write ~900-byte records to /dev/kmsg until the record after `seq` is gone from the buffer. */
function floodPast(seq: number, label: string): void {
  for (let n = 0; kmsgSeqs().oldest <= seq + 1; n++) {
    assert.ok(n < 3000, 'the buffer never overran');
    const fd = openSync('/dev/kmsg', 'w');
    writeSync(fd, `oomwatch-test daemon ${process.pid} ${label} ${n} ${'x'.repeat(850)}\n`);
    closeSync(fd);
  }
}

describe('oomwatch daemon stopped while the kernel log overruns', realKernel(), () => {
  after(async () => {
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
  });

  test('records lost are counted and logged; a notifier that keeps failing gives way to polling, logged; kills still count', async () => {
    const state = tempDir('overrun');
    const name = cgroupName('overrun');
    mkdirSync(join(V1_MEMORY_MOUNT, name), { recursive: true });
    writeFileSync(join(V1_MEMORY_MOUNT, name, 'memory.limit_in_bytes'), String(64 * M));
    const d = await startDaemon({ stateDir: state.dir });
    const pid = d.child.pid as number;
    try {
      assert.equal(JSON.parse(await d.scrape('/healthz')).kmsg.wake, 'notify');
      // SIGSTOP the daemon (our own child), overrun the buffer past where it was, SIGCONT: its
      // reader and its notifier both get EPIPE. Six times within 10 s: the notifier gives up.
      for (let i = 0; i < 6; i++) {
        const at = kmsgSeqs().last;
        process.kill(pid, 'SIGSTOP');
        try {
          floodPast(at, `overrun ${i}`);
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        // Nothing observable says the daemon's notifier has reopened after its EPIPE: a fixed
        // pause lets the loop handle both overruns before the next round.
        await new Promise((r) => setTimeout(r, 200));
      }
      const changed = await d.waitForLog((l) => l.event === 'kmsg_wake_changed', 5_000, 'the line saying the reader polls now');
      assert.equal(changed['wake'], 'poll');
      assert.match(String(changed['why_poll']), /the notifier failed 6 times within 10 s/);
      const health = JSON.parse(await d.scrape('/healthz'));
      assert.equal(health.kmsg.up, true);
      assert.equal(health.kmsg.wake, 'poll');
      assert.ok(d.logs.some((l) => l.event === 'kmsg_lost' && l['reason'] === 'overrun'), 'the loss is logged');
      assert.ok(((await d.metric('oomwatch_kmsg_lost_records_total')) ?? 0) > 0, 'the loss is counted');
      // Polling, it still reads kills.
      const victim = await oomKill(name);
      await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === victim, 10_000, 'the kill after the overruns');
      assert.equal(await d.waitForTotal('oomwatch_oom_kills_total', { cgroup: `/${name}` }, (v) => v === 1), 1);
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone: the assertions say why
      }
      await d.stop('SIGKILL');
      state.remove();
    }
  });
});

describe('oomwatch daemon config reloads and runs without root', realKernel(), () => {
  after(async () => {
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
  });

  test('SIGHUP and file changes reload: a bad config is logged and the running one kept, a good one applied', async () => {
    const state = tempDir('reload');
    const first = cgroupName('reload-a');
    const second = cgroupName('reload-b');
    const d = await startDaemon({ stateDir: state.dir, config: `cgroups:\n  - {name: ${first}, memory: 32M}\n` });
    try {
      const file = join(state.dir, 'config.yml');
      writeFileSync(file, 'cgroups:\n  - {name: x, memory: huge}\n');
      const rejected = await d.waitForLog((l) => l.event === 'config_rejected', 10_000, 'the rejected config');
      assert.match(String(rejected['err']), /cgroups\[0\]\.memory: .*"huge" is not a size/);
      assert.equal((await d.samples()).some((s) => s.name === 'oomwatch_declared_cgroup_present' && s.labels['cgroup'] === `/${first}`), true, 'the running config is kept');
      writeFileSync(file, `cgroups:\n  - {name: ${first}, memory: 32M}\n  - {name: ${second}, memory: 48M}\n`);
      await d.waitForLog((l) => l.event === 'declared_applied' && l['cgroup'] === `/${second}`, 10_000, 'the second declared cgroup');
      assert.equal(readFileSync(join(V1_MEMORY_MOUNT, second, 'memory.limit_in_bytes'), 'utf8').trim(), String(48 * M));
      assert.equal(await d.waitForTotal('oomwatch_oom_kills_total', { cgroup: `/${second}` }, (v) => v === 0), 0);
      // Someone else changes a declared limit: drift is reported, not fought.
      writeFileSync(join(V1_MEMORY_MOUNT, second, 'memory.limit_in_bytes'), String(16 * M));
      assert.equal(await d.waitForMetric('oomwatch_declared_cgroup_drift', { cgroup: `/${second}` }, (v) => v === 1), 1);
      const drift = await d.waitForLog((l) => l.event === 'declared_drift' && l['cgroup'] === `/${second}`, 10_000, 'the drift warning');
      assert.match(JSON.stringify(drift['drift']), /memory: declared 50331648, kernel has 16777216/);
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.event === 'config_reloaded' && d.logs.filter((x) => x.event === 'config_reloaded').length >= 2, 10_000, 'a reload on SIGHUP');
      assert.equal(readFileSync(join(V1_MEMORY_MOUNT, second, 'memory.limit_in_bytes'), 'utf8').trim(), String(48 * M), 'a reload re-applies the declared limits');
    } finally {
      await d.stop();
      state.remove();
    }
  });

  test('not root: it still polls, says /dev/kmsg is off in /healthz and oomwatch_kmsg_up 0', async () => {
    const state = tempDir('nonroot');
    const d = await startDaemon({ stateDir: join(state.dir, 'not-writable'), uid: 65534 });
    try {
      const off = await d.waitForLog((l) => l.event === 'kmsg_unavailable', 10_000, 'the kmsg error');
      assert.match(String(off['err']), /CAP_SYSLOG/);
      assert.equal(await d.metric('oomwatch_kmsg_up'), 0);
      assert.ok(((await d.metric('oomwatch_cgroups_watched')) ?? 0) > 0, 'cgroups are polled without root');
      const health = JSON.parse(await d.scrape('/healthz'));
      assert.equal(health.status, 'degraded');
      assert.match(health.kmsg.error, /CAP_SYSLOG/);
      assert.match(health.state.error, /state directory/);
      const stopped = await d.stop('SIGTERM');
      assert.equal(stopped.code, 0);
    } finally {
      await d.stop();
      state.remove();
    }
  });
});
