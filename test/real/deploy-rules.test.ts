/**
 * The shipped Prometheus files, checked by the real promtool and a real Prometheus (Debian's
 * `prometheus` package): deploy/prometheus/oomwatch-rules.yml and its unit tests
 * (oomwatch-rules.test.yml), and the example scrape config for systemd hosts.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOP } from '../helpers/cli.js';
import { requireTools, startPromStack, PROMTOOL, PROMETHEUS, ALERTMANAGER, type PromStack } from '../helpers/promstack.js';
import { until } from '../helpers/until.js';

const PROM_DIR = join(TOP, 'deploy', 'prometheus');
const RULES = join(PROM_DIR, 'oomwatch-rules.yml');
const RULE_TESTS = join(PROM_DIR, 'oomwatch-rules.test.yml');
const SCRAPE = join(PROM_DIR, 'scrape-systemd-hosts.yml');
const SCRAPE_K8S = join(PROM_DIR, 'scrape-kubernetes-pods.yml');

/** Targets after relabeling, as `promtool check service-discovery` computes them. */
function discover(configText: string, job: string): Array<{ labels: Record<string, string> }> {
  const dir = tempDir();
  writeFileSync(join(dir, 'scrape.yml'), configText.replace(/rule_files:\n(  - .*\n)+/, ''));
  const r = promtool(['check', 'service-discovery', '--timeout=3s', 'scrape.yml', job], dir);
  assert.equal(r.status, 0, r.out);
  return JSON.parse(r.out.slice(r.out.indexOf('['))) as Array<{ labels: Record<string, string> }>;
}

function promtool(args: string[], cwd = PROM_DIR): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const tmp: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'oomwatch-deploy-rules-'));
  tmp.push(d);
  return d;
}

describe('deploy/prometheus with the real promtool', { timeout: 120_000 }, () => {
  after(() => {
    for (const d of tmp) rmSync(d, { recursive: true, force: true });
  });

  test('promtool check rules: the rule file is valid', (t) => {
    if (!requireTools(t, PROMTOOL)) return;
    const r = promtool(['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: 13 rules found/);
  });

  test('promtool test rules: every alert fires when it should and only then', (t) => {
    if (!requireTools(t, PROMTOOL)) return;
    const r = promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  // Each shipped fix, taken out of a copy of the rules: the unit tests must then fail on its alert.
  const breaks: Array<{ what: string; fix: RegExp; without: string; alert: string }> = [
    {
      what: 'OomwatchOOMKill misses the first kill of a new series',
      fix: /\n\s*or\n\s*\(oomwatch_oom_kills_total\{cgroup!=""\} > 0 unless oomwatch_oom_kills_total\{cgroup!=""\} offset 5m\)/,
      without: '',
      alert: 'OomwatchOOMKill',
    },
    {
      what: 'OomwatchOOMKill fires for a kill with no known cgroup ("OOM kill in  on …")',
      fix: /oomwatch_oom_kills_total\{cgroup!=""\}/g,
      without: 'oomwatch_oom_kills_total',
      alert: 'OomwatchOOMKill',
    },
    {
      what: 'OomwatchUnattributedOOMKill misses a series born at 1',
      fix: /\n\s*or\n\s*\(oomwatch_unattributed_oom_kills_total > 0 unless oomwatch_unattributed_oom_kills_total offset 15m\)/,
      without: '',
      alert: 'OomwatchUnattributedOOMKill',
    },
  ];
  for (const b of breaks) {
    test(`the unit tests catch a rule that ${b.what} (they can fail)`, (t) => {
      if (!requireTools(t, PROMTOOL)) return;
      const dir = tempDir();
      const text = readFileSync(RULES, 'utf8');
      assert.match(text, b.fix, `the shipped rules have the fix: ${b.fix}`);
      writeFileSync(join(dir, 'oomwatch-rules.yml'), text.replace(b.fix, b.without));
      copyFileSync(RULE_TESTS, join(dir, 'oomwatch-rules.test.yml'));
      assert.equal(promtool(['check', 'rules', 'oomwatch-rules.yml'], dir).status, 0, 'the broken copy is still valid PromQL');
      const r = promtool(['test', 'rules', 'oomwatch-rules.test.yml'], dir);
      assert.notEqual(r.status, 0, r.out);
      // promtool runs the test groups concurrently: which failing case it prints first varies.
      assert.match(r.out, new RegExp(`alertname: ${b.alert}, time: \\d+m`));
    });
  }

  test('promtool check config: the systemd-hosts scrape config (with the rules it names) is valid', (t) => {
    if (!requireTools(t, PROMTOOL)) return;
    const r = promtool(['check', 'config', SCRAPE]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: \S*scrape-systemd-hosts\.yml is valid prometheus config file syntax/);
    assert.match(r.out, /SUCCESS: 13 rules found/);
  });

  test('the scrape config relabels instance to the bare host name, job stays "oomwatch"', (t) => {
    if (!requireTools(t, PROMTOOL)) return;
    // promtool 2.42's `check service-discovery` panics ("send on closed channel") on file_sd:
    // check the relabeling on the static targets of a copy without the file_sd part.
    const text = readFileSync(SCRAPE, 'utf8');
    const start = text.indexOf('    file_sd_configs:');
    const end = text.indexOf('    relabel_configs:');
    assert.ok(start > 0 && end > start, 'the file has file_sd_configs before relabel_configs');
    const targets = discover(text.slice(0, start) + text.slice(end), 'oomwatch');
    // promtool lists the discovered targets in no fixed order.
    assert.deepEqual(
      targets.map((x) => [x.labels['__address__'], x.labels['instance'], x.labels['job']]).sort(),
      [
        ['batch-1.example.internal:9742', 'batch-1.example.internal', 'oomwatch'],
        ['db-1.example.internal:9742', 'db-1.example.internal', 'oomwatch'],
      ],
    );
  });

  test('the Kubernetes pod scrape config keeps only annotated oomwatch pods, port from the annotation, instance = node', (t) => {
    if (!requireTools(t, PROMTOOL)) return;
    // Debian's Prometheus 2.42 is built without kubernetes_sd ("field kubernetes_sd_configs not
    // found"): feed the same relabel rules static targets that carry the labels the pod role sets.
    const text = readFileSync(SCRAPE_K8S, 'utf8');
    const start = text.indexOf('    kubernetes_sd_configs:');
    const end = text.indexOf('    relabel_configs:');
    assert.ok(start > 0 && end > start, 'the file has kubernetes_sd_configs before relabel_configs');
    const pod = (address: string, node: string, labels: Record<string, string>): string =>
      [`      - targets: [${JSON.stringify(address)}]`, '        labels:', `          __meta_kubernetes_pod_node_name: ${node}`,
        ...Object.entries(labels).map(([k, v]) => `          __meta_kubernetes_pod_${k}: ${JSON.stringify(v)}`)].join('\n');
    const annotated = { annotation_prometheus_io_scrape: 'true', annotation_prometheus_io_port: '9742', annotation_prometheus_io_path: '/metrics' };
    const statics = ['    static_configs:',
      pod('10.0.0.7:8080', 'node-a', { label_app_kubernetes_io_name: 'oomwatch', ...annotated }),
      pod('10.0.0.8', 'node-b', { label_app_kubernetes_io_name: 'oomwatch', ...annotated }),
      pod('10.0.0.9:9742', 'node-c', { label_app_kubernetes_io_name: 'other', ...annotated }),
      pod('10.0.0.10:9742', 'node-d', { label_app_kubernetes_io_name: 'oomwatch', annotation_prometheus_io_scrape: 'false' }),
      ''].join('\n');
    const targets = discover(text.slice(0, start) + statics + text.slice(end), 'oomwatch').filter((x) => Object.keys(x.labels).length > 0);
    assert.deepEqual(
      targets.map((x) => [x.labels['__address__'], x.labels['__metrics_path__'], x.labels['instance'], x.labels['job']]).sort(),
      [
        ['10.0.0.7:9742', '/metrics', 'node-a', 'oomwatch'],
        ['10.0.0.8:9742', '/metrics', 'node-b', 'oomwatch'],
      ],
    );
  });
});

describe('deploy/prometheus/oomwatch-rules.yml in a real Prometheus', { timeout: 120_000 }, () => {
  let stack: PromStack | undefined;
  after(async () => {
    await stack?.stop();
  });

  test('loads, and every alert has a summary, a description and a runbook', async (t) => {
    if (!requireTools(t, PROMETHEUS, ALERTMANAGER)) return;
    const s = await startPromStack({ job: 'self', ruleFiles: [{ path: RULES }] });
    stack = s;
    const res = await fetch(`${s.prometheusUrl}/api/v1/rules?type=alert`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as {
      data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; annotations: Record<string, string> }> }> };
    };
    const rules = body.data.groups.flatMap((g) => g.rules);
    assert.deepEqual(rules.map((r) => r.name).sort(), [
      'OomwatchCgroupMemoryLeak',
      'OomwatchCgroupMemoryPressure',
      'OomwatchCgroupNearMemoryLimit',
      'OomwatchCgroupOOMPredicted',
      'OomwatchCgroupPinnedAtLimit',
      'OomwatchCollectorFailing',
      'OomwatchDegraded',
      'OomwatchDown',
      'OomwatchKmsgLostRecords',
      'OomwatchOOMKill',
      'OomwatchRepeatedOOMKills',
      'OomwatchUnattributedOOMKill',
      'OomwatchUnexplainedOOMKills',
    ]);
    for (const r of rules) {
      for (const key of ['summary', 'description', 'runbook']) {
        assert.ok((r.annotations[key] ?? '').length > 20, `${r.name} has a ${key} annotation`);
      }
    }
    // Evaluated without errors: every rule's health turns "ok" (it is "unknown" before the first
    // evaluation, "err" when the expression fails). No oomwatch here, so nothing fires.
    const health = await until(
      'every rule evaluated without errors',
      async () => {
        const again = (await (await fetch(`${s.prometheusUrl}/api/v1/rules?type=alert`)).json()) as typeof body;
        return again.data.groups.flatMap((g) => g.rules.map((r) => `${r.name}=${r.health}`));
      },
      (h) => h.every((x) => x.endsWith('=ok')),
      { timeoutMs: 30_000, everyMs: 250 },
    );
    assert.equal(health.length, 13, health.join(' '));
    assert.deepEqual(await s.query('ALERTS'), [], 'nothing fires without oomwatch series');
  });
});
