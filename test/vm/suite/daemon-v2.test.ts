/**
 * `oomwatch daemon` on the real cgroup v2 kernel in the VM, reading /dev/kmsg: a declared 32M
 * cgroup's OOM kill is counted once, with the kernel's memory.events and PSI pressure exported for
 * it; a group kill (memory.oom.group) counts one kill per process; a cgroup made after the start is
 * discovered and a system OOM in it counted; a cgroup whose parent enables the memory controller
 * only later is polled from then on; a kill in a containerd container's cgroup is named from the
 * container's task bundle in a runtime tree written under --host-root. One daemon for all (every node
 * start costs seconds under TCG); it serves on the guest's loopback (test/vm/init brings `lo` up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startDaemon, sumMetric as sum, tempDir, type DaemonProcess, type Sample } from '../../helpers/daemon.js';
import { until as waitUntil } from '../../helpers/until.js';
import { CGROUP2, HOG, cgKeyed, exited, guest, killAll, makeCg, removeTree, spawnIn, spawnSleeper } from '../guest.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Scrape until `cond` holds for the samples (the shared until(): fails naming `what` and the last scrape). */
function until(d: DaemonProcess, what: string, cond: (s: Sample[]) => boolean, timeoutMs = 30_000): Promise<Sample[]> {
  return waitUntil(what, () => d.samples(), cond, { timeoutMs, everyMs: 100 });
}

test('oomwatch daemon on cgroup v2: declared cgroup OOM, memory.events, PSI, a group kill, a discovered cgroup\'s system OOM', guest(), async (t) => {
  const state = tempDir('d2');
  // The host's / for the runtimes' files: empty but for the bundle the naming subtest writes.
  const host = join(state.dir, 'host');
  mkdirSync(host);
  const d = await startDaemon({
    stateDir: state.dir,
    startTimeoutMs: 90_000,
    args: ['--host-root', host],
    config: [
      'watch: {include: ["/d2-*", "/d2-*/**"]}',
      'cgroups:',
      '  - {name: d2-decl, memory: 32M}',
      '  - {name: d2-group, memory: 32M, oom_group: true}',
      '',
    ].join('\n'),
  });
  try {
    // Declared cgroups: created with their limits, kill counters present at 0 from the start.
    assert.equal(cgKeyed('d2-decl', 'memory.events')['oom_kill'], 0);
    const at0 = await until(d, 'the declared cgroups\' first samples', (s) =>
      sum(s, 'oomwatch_cgroup_memory_limit_bytes', { cgroup: '/d2-group' }) !== undefined &&
      sum(s, 'oomwatch_cgroup_memory_limit_bytes', { cgroup: '/d2-decl' }) !== undefined);
    assert.equal(sum(at0, 'oomwatch_oom_kills_total', { cgroup: '/d2-decl' }), 0);
    assert.equal(sum(at0, 'oomwatch_cgroup_memory_limit_bytes', { cgroup: '/d2-decl' }), 32 * MiB);
    assert.equal(sum(at0, 'oomwatch_kmsg_up', {}), 1);
    // On this kernel too the reader is woken by the kernel, not polling.
    assert.equal(d.logs.find((l) => l.event === 'kmsg_started')?.['wake'], 'notify');

    await t.test('a 64M dd in the declared 32M cgroup: one kill, memory.events oom_kill 1, PSI', async () => {
      const hog = spawnIn('d2-decl', HOG);
      assert.equal((await exited(hog)).signal, 'SIGKILL');
      const s = await until(d, 'the kill and the kernel counter', (x) =>
        sum(x, 'oomwatch_oom_kills_total', { cgroup: '/d2-decl' }) === 1 &&
        sum(x, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-decl', event: 'oom_kill' }) === 1);
      assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2-decl', scope: 'cgroup' }), 1);
      assert.equal(sum(s, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-decl', event: 'oom' }), 1);
      const some = sum(s, 'oomwatch_cgroup_memory_pressure_seconds_total', { cgroup: '/d2-decl', kind: 'some' });
      const full = sum(s, 'oomwatch_cgroup_memory_pressure_seconds_total', { cgroup: '/d2-decl', kind: 'full' });
      assert.ok(some !== undefined && some >= 0, 'PSI some is exported');
      assert.ok(full !== undefined && full >= 0, 'PSI full is exported');
      const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === hog.pid, 10_000, 'the kill\'s log line');
      assert.equal(line['victim_cgroup'], '/d2-decl');
      assert.equal(line['attributed_by'], 'kmsg');
      assert.equal(line['cgroup_limit_bytes'], 32 * MiB);
      // Read as the line is written (memory.current, memory.peak): the hog drove the peak to the limit.
      const peak = line['cgroup_peak_bytes'] as number;
      assert.ok(peak > 28 * MiB && peak <= 32 * MiB, `cgroup_peak_bytes ${peak}: the hog reached the 32M limit`);
      assert.ok((line['cgroup_usage_bytes'] as number) <= peak, 'usage within the peak');
    });

    await t.test('memory.oom.group=1, three processes: three kills, not the kernel\'s oom_kill count', async () => {
      const sleepers = [spawnSleeper(), spawnSleeper()];
      try {
        for (const s of sleepers) writeFileSync(join(CGROUP2, 'd2-group', 'cgroup.procs'), String(s.pid));
        const hog = spawnIn('d2-group', HOG);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        for (const s of sleepers) assert.equal((await exited(s)).signal, 'SIGKILL');
        const pids = [hog.pid as number, ...sleepers.map((s) => s.pid as number)];
        // The kernel counts the first victim's repeated kill line: 4 for 3 processes.
        const kernel = cgKeyed('d2-group', 'memory.events');
        assert.equal(kernel['oom_group_kill'], 1);
        await until(d, 'the daemon to sample the kernel\'s counters', (x) =>
          sum(x, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-group', event: 'oom_kill' }) === kernel['oom_kill'] &&
          sum(x, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-group', event: 'oom_group_kill' }) === 1);
        for (const p of pids) await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === p, 20_000, `the log line of pid ${p}`);
        // Past the ledger's grace (2 polls + 0.5 s) an increment no kill line explained would be
        // exported as an unexplained kill: wait well past it, then the count must still be 3.
        await sleep(3000);
        const s = await d.samples();
        assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2-group' }), 3);
        assert.equal(sum(s, 'oomwatch_unexplained_oom_kills_total', { cgroup: '/d2-group' }) ?? 0, 0);
        const lines = d.logs.filter((l) => l.event === 'oom_kill' && pids.includes(l['pid'] as number));
        assert.equal(lines.length, 3, 'one log line per process');
        assert.ok(lines.every((l) => l['group_kill'] === true && l['victim_cgroup'] === '/d2-group'), JSON.stringify(lines));
      } finally {
        killAll(sleepers);
      }
    });

    await t.test('a cgroup made after the start is discovered; a system OOM (global_oom) in it is counted with scope system', async () => {
      makeCg('d2-disc/sys');
      await until(d, 'the new cgroup to be polled', (x) => sum(x, 'oomwatch_cgroup_memory_usage_bytes', { cgroup: '/d2-disc/sys' }) !== undefined);
      // No limit anywhere: a hog bigger than what the 512M guest has free, made the OOM killer's
      // first choice (oom_score_adj 1000) so that nothing else is killed.
      const hog = spawnIn('d2-disc/sys', ['sh', '-c', 'echo 1000 > /proc/self/oom_score_adj && exec dd if=/dev/zero of=/dev/null bs=440M count=1']);
      assert.equal((await exited(hog)).signal, 'SIGKILL');
      const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === hog.pid, 20_000, 'the system OOM kill\'s log line');
      assert.deepEqual([line['scope'], line['constraint'], line['oom_cgroup'], line['victim_cgroup']], ['system', 'CONSTRAINT_NONE', null, '/d2-disc/sys']);
      const s = await until(d, 'the kill counter', (x) => sum(x, 'oomwatch_oom_kills_total', { cgroup: '/d2-disc/sys' }) === 1);
      assert.equal(sum(s, 'oomwatch_oom_kills_total', { cgroup: '/d2-disc/sys', scope: 'system' }), 1);
      // The kernel counts a system OOM's kill in the victim's memory.events too (oom 0: no limit was hit).
      const after = await until(d, 'the kernel counter', (x) => sum(x, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-disc/sys', event: 'oom_kill' }) === 1);
      assert.equal(sum(after, 'oomwatch_cgroup_memory_events_total', { cgroup: '/d2-disc/sys', event: 'oom' }), 0);
      assert.equal(sum(after, 'oomwatch_oom_kills_total', { cgroup: '/d2-disc/sys' }), 1);
    });

    await t.test('a cgroup whose parent enables the memory controller after discovery is polled from then on', async () => {
      makeCg('d2-late');
      // d2-late's own cgroup.subtree_control is empty: its child has no memory files yet.
      mkdirSync(join(CGROUP2, 'd2-late', 'child'));
      assert.equal(existsSync(join(CGROUP2, 'd2-late', 'child', 'memory.current')), false);
      await until(d, 'the parent to be polled', (x) => sum(x, 'oomwatch_cgroup_memory_usage_bytes', { cgroup: '/d2-late' }) !== undefined);
      await sleep(2500); // a fixed wait is the point: within two polls the child is seen and passed over
      assert.equal(sum(await d.samples(), 'oomwatch_cgroup_memory_usage_bytes', { cgroup: '/d2-late/child' }), undefined);
      writeFileSync(join(CGROUP2, 'd2-late', 'cgroup.subtree_control'), '+memory');
      await until(d, 'the child to be polled', (x) => sum(x, 'oomwatch_cgroup_memory_usage_bytes', { cgroup: '/d2-late/child' }) !== undefined);
      await d.waitForLog((l) => l.event === 'cgroup_memory_enabled' && l['cgroup'] === '/d2-late/child', 5_000, 'the log line saying so');
    });

    await t.test('a kill in a containerd container (kubelet systemd layout) is named from its task bundle under --host-root', async () => {
      const id = randomBytes(32).toString('hex');
      const uid = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
      const pod = `d2-kube/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
      const cg = `${pod}/cri-containerd-${id}.scope`;
      const init = spawnSleeper();
      try {
        // containerd's bundle as the CRI plugin writes it (test/fixtures/runtime has real ones).
        const bundle = join(host, 'run', 'containerd', 'io.containerd.runtime.v2.task', 'k8s.io', id);
        mkdirSync(bundle, { recursive: true });
        writeFileSync(join(bundle, 'config.json'), JSON.stringify({
          ociVersion: '1.0.2-dev',
          annotations: {
            'io.kubernetes.cri.container-type': 'container',
            'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-namespace': 'shop',
            'io.kubernetes.cri.sandbox-uid': uid, 'io.kubernetes.cri.container-name': 'app',
            'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1',
          },
        }));
        writeFileSync(join(bundle, 'init.pid'), String(init.pid));
        makeCg(cg, { 'memory.max': String(32 * MiB) });
        writeFileSync(join(CGROUP2, cg, 'cgroup.procs'), String(init.pid));
        // Polled means discovered: the daemon read the bundle when the cgroup appeared.
        await until(d, 'the container\'s cgroup to be polled', (x) => sum(x, 'oomwatch_cgroup_memory_usage_bytes', { cgroup: `/${cg}` }) !== undefined);
        const hog = spawnIn(cg, HOG);
        assert.equal((await exited(hog)).signal, 'SIGKILL');
        const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === hog.pid, 20_000, 'the kill\'s log line');
        assert.deepEqual(
          [line['victim_cgroup'], line['container_id'], line['pod_uid'], line['namespace'], line['pod'], line['container'], line['image']],
          [`/${cg}`, id, uid, 'shop', 'web-0', 'app', 'docker.io/library/busybox:1'],
        );
        assert.equal(line['main_process'], false, 'dd is not the init process the bundle names');
        assert.equal(line['limit'], 'container');
        assert.equal(line['cgroup_limit_bytes'], 32 * MiB);
        const s = await until(d, 'the named kill series', (x) => sum(x, 'oomwatch_oom_kills_total', { container_id: id }) === 1);
        assert.equal(sum(s, 'oomwatch_oom_kills_total', { container_id: id, namespace: 'shop', pod: 'web-0', container: 'app', limit: 'container', main_process: 'false' }), 1);
      } finally {
        killAll([init]);
      }
    });

    assert.deepEqual(await d.stop('SIGTERM'), { code: 0, signal: null });
  } finally {
    d.child.kill('SIGKILL');
    await removeTree('d2-decl');
    await removeTree('d2-group');
    await removeTree('d2-disc');
    await removeTree('d2-late');
    await removeTree('d2-kube');
    state.remove();
  }
});
