/**
 * End to end with the real programs: the oomwatch daemon on 127.0.0.1, `promtool check metrics` on
 * a real scrape, a real Prometheus scraping it every second with the shipped alert rules, a real
 * Alertmanager delivering to the test's webhook, and real OOM kills in real v1 memory cgroups (one
 * declared in the daemon's config, one it only discovers).
 *
 * Everything is started here and stopped here by PID, also when a step fails (after()); the
 * cgroups live under /sys/fs/cgroup/memory/oomwatch-test/ and are removed. Assertions are about
 * this test's own cgroups only (other tests cause OOM kills on this machine at the same time).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, makeV1Cgroup, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG, oomControl, type TestCgroup } from '../helpers/v1cgroup.js';
import { TOP } from '../helpers/cli.js';
import { startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon.js';
import {
  startPromStack,
  toolUnavailable,
  PROMETHEUS,
  ALERTMANAGER,
  PROMTOOL,
  type PromStack,
} from '../helpers/promstack.js';

const RULES = join(TOP, 'deploy', 'prometheus', 'oomwatch-rules.yml');
const M = 2 ** 20;

describe('oomwatch daemon scraped by a real Prometheus, alerting through a real Alertmanager', { timeout: 240_000, ...realKernel() }, () => {
  const declared = uniqueTestName('prom-declared');
  const declaredPath = `/${declared}`;
  const state = tempDir('prom-e2e');
  let discovered: TestCgroup | undefined;
  let daemon: DaemonProcess | undefined;
  let stack: PromStack | undefined;

  before(async () => {
    for (const p of [PROMETHEUS, ALERTMANAGER, PROMTOOL]) {
      const why = toolUnavailable(p);
      if (why !== undefined) throw new Error(why);
    }
    daemon = await startDaemon({
      stateDir: state.dir,
      pollInterval: '250ms',
      config: ['cgroups:', `  - name: ${declared}`, '    memory: 64M', ''].join('\n'),
    });
  });

  after(async () => {
    // Prometheus and Alertmanager first, then the daemon (it may re-create its declared cgroup),
    // then the cgroups, then the temporary folder.
    await stack?.stop();
    await daemon?.stop();
    await removeCgroupTree(join(V1_MEMORY_MOUNT, declared));
    await discovered?.cleanup();
    removePrefixIfEmpty();
    state.remove();
  });

  test('the daemon creates its declared cgroup and exports it, its kill counter at 0', async () => {
    assert.ok(daemon !== undefined);
    const d = daemon;
    assert.equal(await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: declaredPath }, (v) => v !== undefined, 15_000), 64 * M);
    assert.equal(readFileSync(join(V1_MEMORY_MOUNT, declared, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * M));
    // Kill counters of declared cgroups start at 0 (the alert rules do not depend on it).
    assert.equal(await d.total('oomwatch_oom_kills_total', { cgroup: declaredPath }), 0);
    assert.equal(await d.metric('oomwatch_kmsg_up'), 1, 'root here: /dev/kmsg is readable');
    assert.match(await d.scrape(), /^oomwatch_build_info\{version="[^"]+"[^}]*\} 1$/m);
  });

  test('promtool check metrics on a real scrape reports nothing', async () => {
    assert.ok(daemon !== undefined);
    const text = await daemon.scrape();
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.equal(`${r.stdout}${r.stderr}`, '', 'promtool found problems');
    assert.equal(r.status, 0);
  });

  test('a real OOM kill in the declared cgroup: Prometheus reads 1, the OOM alert reaches the webhook naming the cgroup', async () => {
    assert.ok(daemon !== undefined);
    const d = daemon;
    const port = d.port;
    const s = await startPromStack({ targets: [`127.0.0.1:${port}`], job: 'oomwatch', ruleFiles: [{ path: RULES }] });
    stack = s;
    // Prometheus has scraped the declared cgroup's counter at 0 before the kill.
    await s.waitForQuery(`oomwatch_oom_kills_total{cgroup="${declaredPath}"}`, (r) => r.length === 1 && r[0]?.value[1] === '0', 30_000);

    const r = await exited(spawnInCgroup(join(V1_MEMORY_MOUNT, declared), HOG));
    assert.equal(r.signal, 'SIGKILL', 'the hog was OOM-killed');
    assert.equal(oomControl(join(V1_MEMORY_MOUNT, declared))['oom_kill'], 1, 'the kernel counted one kill');

    const q = `oomwatch_oom_kills_total{cgroup="${declaredPath}"}`;
    // The kill's series says which limit fired (limit="own"); the declared series at 0 stays beside it.
    const got = await s.waitForQuery(`${q} > 0`, (v) => v.length > 0, 30_000);
    assert.equal(got.length, 1, JSON.stringify(got));
    assert.equal(got[0]?.value[1], '1');
    assert.equal(got[0]?.metric['limit'], 'own');
    assert.equal(got[0]?.metric['scope'], 'cgroup');
    assert.equal(got[0]?.metric['job'], 'oomwatch');
    assert.equal(got[0]?.metric['instance'], `127.0.0.1:${port}`);

    const alert = await s.waitForAlert((a) => a.labels['alertname'] === 'OomwatchOOMKill' && a.labels['cgroup'] === declaredPath, 90_000);
    assert.equal(alert.labels['job'], 'oomwatch');
    assert.equal(alert.labels['instance'], `127.0.0.1:${port}`);
    assert.equal(alert.labels['scope'], 'cgroup');
    assert.equal(alert.labels['severity'], 'warning');
    assert.ok((alert.annotations['summary'] ?? '').includes(`OOM kill in ${declaredPath} `), alert.annotations['summary']);

    // Counted once, not twice (kmsg record + kernel counter), and explained by its kmsg record.
    // This sleep is the point of the check: a second count would come within the daemon's
    // reconciliation grace, so nothing more may appear within 2 s.
    await new Promise((res) => setTimeout(res, 2000));
    assert.deepEqual((await s.query(`sum(${q})`)).map((x) => x.value[1]), ['1']);
    const unexplained = await s.query(`oomwatch_unexplained_oom_kills_total{cgroup="${declaredPath}"} > 0`);
    assert.deepEqual(unexplained, [], 'the kill was explained by its kernel log record');

    // The JSON log line of the kill names the cgroup.
    assert.ok(d.logs.some((l) => l.event === 'oom_kill' && l['victim_cgroup'] === declaredPath), JSON.stringify(d.logs.slice(-10)));
  });

  test('a kill in a cgroup oomwatch only discovered: its series is born at 1 and the alert still fires', async () => {
    assert.ok(stack !== undefined && daemon !== undefined, 'the stack from the previous test');
    const s = stack;
    const port = daemon.port;
    discovered = makeV1Cgroup('prom-discovered', 64 * M);
    const path = discovered.kernelPath;
    const r = await exited(spawnInCgroup(discovered.dir, HOG));
    assert.equal(r.signal, 'SIGKILL');
    const got = await s.waitForQuery(`oomwatch_oom_kills_total{cgroup="${path}"}`, (v) => v.length > 0, 30_000);
    assert.deepEqual(got.map((x) => x.value[1]), ['1']);
    const alert = await s.waitForAlert((a) => a.labels['alertname'] === 'OomwatchOOMKill' && a.labels['cgroup'] === path, 90_000);
    assert.equal(alert.labels['instance'], `127.0.0.1:${port}`);
  });

  test('a kill in a cgroup removed right after it (a container restarted): the kill still reaches Prometheus and the alert fires', async () => {
    // A killed container's cgroup is removed and a new one made within moments. If the kill
    // counter series went away with the cgroup before Prometheus scraped it, the kill would never
    // be seen (cAdvisor's container_oom_events_total, google/cadvisor#3015). The series of kill
    // counters must outlive their cgroup for a while (gauges may go at once).
    assert.ok(stack !== undefined, 'the stack from the previous tests');
    const s = stack;
    const gone = makeV1Cgroup('prom-gone', 64 * M);
    const r = await exited(spawnInCgroup(gone.dir, HOG));
    assert.equal(r.signal, 'SIGKILL');
    await gone.cleanup();
    const got = await s.waitForQuery(`oomwatch_oom_kills_total{cgroup="${gone.kernelPath}"}`, (v) => v.length > 0, 30_000);
    assert.deepEqual(got.map((x) => x.value[1]), ['1']);
    await s.waitForAlert((a) => a.labels['alertname'] === 'OomwatchOOMKill' && a.labels['cgroup'] === gone.kernelPath, 90_000);
  });
});

describe('the Kubernetes ConfigMap\'s config runs the real daemon', { timeout: 60_000, ...realKernel() }, () => {
  test('deploy/kubernetes/configmap.yaml config.yml: accepted, serves /healthz, SIGTERM exits 0', async () => {
    const tmp = tempDir('k8s-config');
    let d: DaemonProcess | undefined;
    try {
      // python3-yaml (a dependency of Debian's yamllint) extracts the embedded file.
      const x = spawnSync('python3', ['-c', 'import sys, yaml\nfor d in yaml.safe_load_all(open(sys.argv[1])): sys.stdout.write(d["data"]["config.yml"])', join(TOP, 'deploy', 'kubernetes', 'configmap.yaml')], { encoding: 'utf8' });
      assert.equal(x.status, 0, x.stderr);
      writeFileSync(join(tmp.dir, 'config.yml'), x.stdout);
      // The pod listens on every address and keeps state in /var/lib/oomwatch; here flags move
      // both (flags override the config file).
      d = await startDaemon({ stateDir: join(tmp.dir, 'state'), args: ['--config', join(tmp.dir, 'config.yml')] });
      assert.equal(typeof JSON.parse(await d.scrape('/healthz')), 'object');
      const stopped = await d.stop('SIGTERM');
      assert.equal(stopped.code, 0, d.stderr.join('\n'));
      assert.ok(existsSync(join(tmp.dir, 'state')), 'the state directory was used');
    } finally {
      await d?.stop('SIGKILL');
      tmp.remove();
    }
  });
});

describe('the daemon under systemd/oomwatch.service\'s capability bounding set', { timeout: 60_000, ...realKernel() }, () => {
  test('with only the unit\'s capabilities it reads /dev/kmsg and creates its declared cgroup', async () => {
    const unit = readFileSync(join(TOP, 'systemd', 'oomwatch.service'), 'utf8');
    const caps = (unit.split('\n').find((l) => l.startsWith('CapabilityBoundingSet=')) ?? '').slice('CapabilityBoundingSet='.length).split(/\s+/).filter(Boolean);
    assert.ok(caps.length > 0);
    const tmp = tempDir('caps');
    const name = uniqueTestName('caps-declared');
    let d: DaemonProcess | undefined;
    try {
      const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
      d = await startDaemon({
        stateDir: tmp.dir,
        pollInterval: '250ms',
        config: ['cgroups:', `  - name: ${name}`, '    memory: 64M', ''].join('\n'),
        // setpriv: on exec, root keeps only the capabilities in its bounding set (as systemd does).
        wrapper: ['setpriv', `--bounding-set=${bounding}`, '--inh-caps=-all', '--'],
      });
      assert.equal(await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: `/${name}` }, (v) => v !== undefined, 20_000), 64 * M);
      assert.equal(await d.metric('oomwatch_kmsg_up'), 1, `kmsg readable with ${caps.join(' ')}: ${d.stderr.join('\n')}`);
      assert.equal(readFileSync(join(V1_MEMORY_MOUNT, name, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * M));
    } finally {
      await d?.stop();
      await removeCgroupTree(join(V1_MEMORY_MOUNT, name));
      removePrefixIfEmpty();
      tmp.remove();
    }
  });
});
