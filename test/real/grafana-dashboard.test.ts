/**
 * deploy/grafana/oomwatch.json: the dashboard's structure as Grafana's classic dashboard JSON
 * model describes it, and every panel's query run against a real Prometheus scraping the real
 * daemon after real OOM kills.
 *
 * No package on npm ships Grafana's dashboard model as a JSON Schema: @grafana/schema and
 * @grafana/grafana-foundation-sdk ship TypeScript types and builders only, generated from
 * Grafana's CUE kinds. The structural part below therefore checks the fields the model requires
 * and the ones Grafana relies on when it imports a dashboard (panels with a type and a gridPos on
 * the 24-column grid, targets with a refId and an expression, the datasource as a variable).
 *
 * How the test stands in for Grafana when it runs a query. Grafana replaces the template
 * variables in the expression, then sends a target marked `instant` to Prometheus'
 * /api/v1/query and a target marked `range` to /api/v1/query_range over the dashboard's time
 * range. Here:
 *  - `$job` is `oomwatch` (the variable's query returns the jobs scraping oomwatch; the test
 *    checks that it returns this one);
 *  - `$instance` is `.*`, the variable's "All" value;
 *  - `$__range` is the time from Prometheus' start to the query, whole seconds rounded up: the
 *    dashboard's time range covers all this Prometheus ever scraped;
 *  - `$__rate_interval` is 15s. Grafana makes it at least four scrape intervals of the data
 *    source (4 s for this Prometheus, which scrapes every second); 15 s keeps two samples in every
 *    window on a busy machine where a scrape can come late.
 * Every target runs as an instant query (the query must parse and evaluate without error, and
 * return data), and the range targets also as a range query over the test's time, step 1 s.
 *
 * The daemon declares one cgroup (its kill series exists at 0 before the kill, so increase()
 * sees the kill) and a second cgroup is only discovered (its kill series is born at 1, which only
 * the `x unless x offset W` half of the kill queries counts). The cgroups live under
 * /sys/fs/cgroup/memory/oomwatch-test/ and are removed; everything started is stopped by PID.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, makeV1Cgroup, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG, type TestCgroup } from '../helpers/v1cgroup.js';
import { TOP } from '../helpers/cli.js';
import { startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon.js';
import { startPromStack, toolUnavailable, PROMETHEUS, ALERTMANAGER, type PromStack } from '../helpers/promstack.js';

const DASHBOARD = join(TOP, 'deploy', 'grafana', 'oomwatch.json');
const M = 2 ** 20;

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Target {
  refId: string;
  expr: string;
  datasource: unknown;
  instant?: boolean;
  range?: boolean;
  format?: string;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: GridPos;
  datasource?: unknown;
  targets?: Target[];
  panels?: unknown[];
  collapsed?: boolean;
}

interface Variable {
  type: string;
  name: string;
  query?: unknown;
  definition?: string;
  datasource?: unknown;
  includeAll?: boolean;
  allValue?: string;
}

interface Dashboard {
  title: string;
  uid: string;
  id: unknown;
  schemaVersion: number;
  time: { from: string; to: string };
  templating: { list: Variable[] };
  panels: Panel[];
}

/** The datasource reference of every panel and target: the dashboard's `datasource` variable. */
const DATASOURCE_REF = { type: 'prometheus', uid: '${datasource}' };
/** Panel types built into Grafana (no plugin to install). */
const CORE_PANEL_TYPES = new Set(['row', 'stat', 'timeseries', 'table', 'bargauge']);
/** The global variables Grafana defines that the dashboard uses; any other must be a dashboard variable. */
const GRAFANA_GLOBALS = new Set(['__range', '__rate_interval']);
/** `$name`, `${name}`, `${name:format}` and `[[name]]`. */
const VARIABLE_REF = /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g;

function loadDashboard(): Dashboard {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown;
  assert.ok(typeof d === 'object' && d !== null && !Array.isArray(d), 'the file holds one JSON object');
  return d as Dashboard;
}

/** The panels that query (every panel but rows). */
function queryPanels(d: Dashboard): Panel[] {
  return d.panels.filter((p) => p.type !== 'row');
}

function variablesIn(text: string): string[] {
  return [...text.matchAll(VARIABLE_REF)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(VARIABLE_REF, (whole, a?: string, b?: string, c?: string) => {
    const v = values[a ?? b ?? c ?? ''];
    if (v === undefined) throw new Error(`no test value for ${whole} in ${expr}`);
    return v;
  });
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

describe('deploy/grafana/oomwatch.json is a Grafana dashboard (classic JSON model)', () => {
  test('dashboard fields: title, uid, schemaVersion, time range, no fixed id', () => {
    const d = loadDashboard();
    assert.equal(typeof d.title, 'string');
    assert.ok(d.title.length > 0);
    // Grafana refuses a uid longer than 40 characters or with other characters than these.
    assert.match(d.uid, /^[A-Za-z0-9_-]{1,40}$/);
    // A numeric id would make an import overwrite whichever dashboard has that id.
    assert.equal(d.id, null);
    // Datasource references as {type, uid} objects throughout (panels, targets, variables) are the
    // model from schemaVersion 36 (Grafana 9) on.
    assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion}`);
    assert.equal(typeof d.time.from, 'string');
    assert.equal(typeof d.time.to, 'string');
    assert.ok(Array.isArray(d.panels) && d.panels.length > 0);
    assert.ok(Array.isArray(d.templating.list));
  });

  test('the data source is a variable, not an import input: the file also works when provisioned', () => {
    const text = readFileSync(DASHBOARD, 'utf8');
    // Grafana resolves ${DS_...} inputs only in its import dialog, not for provisioned files.
    assert.doesNotMatch(text, /\$\{DS_/);
    assert.equal(/"__inputs"/.test(text), false);
    const d = loadDashboard();
    const ds = d.templating.list.filter((v) => v.type === 'datasource');
    assert.deepEqual(ds.map((v) => [v.name, v.query]), [['datasource', 'prometheus']]);
    for (const v of d.templating.list.filter((x) => x.type === 'query')) assert.deepEqual(v.datasource, DATASOURCE_REF, `variable ${v.name}`);
    for (const p of queryPanels(d)) {
      assert.deepEqual(p.datasource, DATASOURCE_REF, `panel ${p.title}`);
      for (const t of p.targets ?? []) assert.deepEqual(t.datasource, DATASOURCE_REF, `panel ${p.title} target ${t.refId}`);
    }
  });

  test('panels: unique ids, core types, on the 24-column grid without overlapping', () => {
    const d = loadDashboard();
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(' ')}`);
    for (const p of d.panels) {
      assert.ok(Number.isInteger(p.id) && p.id > 0, `${p.title}: id ${p.id}`);
      assert.ok(CORE_PANEL_TYPES.has(p.type), `${p.title}: type ${p.type}`);
      const g = p.gridPos;
      for (const k of ['x', 'y', 'w', 'h'] as const) assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `${p.title}: gridPos.${k} = ${g[k]}`);
      assert.ok(g.w >= 1 && g.h >= 1 && g.x + g.w <= 24, `${p.title}: gridPos ${JSON.stringify(g)}`);
      if (p.type === 'row') {
        // An expanded row keeps its panels at the top level; only a collapsed row nests them.
        assert.equal(p.collapsed, false, p.title);
        assert.deepEqual(p.panels, [], p.title);
        assert.deepEqual([g.x, g.w, g.h], [0, 24, 1], `${p.title}: a row spans the grid`);
      }
    }
    for (const [i, a] of d.panels.entries()) {
      for (const b of d.panels.slice(i + 1)) assert.ok(!overlaps(a.gridPos, b.gridPos), `${a.title} overlaps ${b.title}`);
    }
  });

  test('every panel has a title, a description and targets with a refId and an expression, run the way its type needs', () => {
    const d = loadDashboard();
    const titles = queryPanels(d).map((p) => p.title);
    assert.equal(new Set(titles).size, titles.length, 'panel titles are unique (the query test names panels by title)');
    for (const p of queryPanels(d)) {
      assert.ok(typeof p.title === 'string' && p.title.length > 0);
      assert.ok(typeof p.description === 'string' && p.description.length > 20, `${p.title}: a description says what the panel shows`);
      const targets = p.targets ?? [];
      assert.ok(targets.length > 0, `${p.title}: no targets`);
      const refIds = targets.map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: duplicate refId`);
      for (const t of targets) {
        assert.match(t.refId, /^[A-Z]$/, `${p.title}`);
        assert.ok(typeof t.expr === 'string' && t.expr.trim().length > 0, `${p.title} ${t.refId}: expr`);
        // A time series panel draws a range query; stat, table and bar gauge show the latest value.
        const range = p.type === 'timeseries';
        assert.equal(t.range === true, range, `${p.title} ${t.refId}: range`);
        assert.equal(t.instant === true, !range, `${p.title} ${t.refId}: instant`);
        if (p.type === 'table') assert.equal(t.format, 'table', `${p.title} ${t.refId}: a table's target has format table`);
      }
    }
  });

  test('every variable an expression uses is defined, and every dashboard variable is used', () => {
    const d = loadDashboard();
    const defined = new Set(d.templating.list.map((v) => v.name));
    const used = new Set<string>();
    for (const p of queryPanels(d)) {
      for (const t of p.targets ?? []) {
        for (const name of variablesIn(t.expr)) {
          used.add(name);
          assert.ok(defined.has(name) || GRAFANA_GLOBALS.has(name), `${p.title} ${t.refId}: $${name} is not defined`);
        }
      }
    }
    for (const v of d.templating.list) {
      if (v.type === 'query') {
        for (const name of variablesIn(v.definition ?? '')) used.add(name);
      }
    }
    for (const v of d.templating.list) {
      if (v.type !== 'datasource') assert.ok(used.has(v.name), `variable ${v.name} is never used`);
    }
  });
});

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;
type Matrix = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;

/**
 * What a panel must show after this test's two kills. `data`: every target returns at least one
 * series. `emptyOnV1`: empty by design where the memory controller is cgroup v1 (this host), and
 * the panel's description says so. Panels about kills also check the kills themselves.
 */
type Expectation =
  | { kind: 'data'; check?: (instant: Vector[], range: Matrix[]) => void }
  | { kind: 'emptyOnV1'; description: RegExp };

const num = (s: string): number => Number(s);
const maxOf = (m: Matrix): number => Math.max(...m.flatMap((s) => s.values.map(([, v]) => num(v))));

function expectations(declared: string, discovered: string): Record<string, Expectation> {
  return {
    'OOM kills (oomwatch)': {
      kind: 'data',
      check: ([a]) => assert.ok(num(a?.[0]?.value[1] ?? '0') >= 2, `both kills counted: ${JSON.stringify(a)}`),
    },
    'OOM kills (kernel, whole host)': {
      kind: 'data',
      check: ([a]) => assert.ok(num(a?.[0]?.value[1] ?? '0') >= 2, `both kills counted: ${JSON.stringify(a)}`),
    },
    'Kills with no known cgroup': { kind: 'data' },
    'Kills no kernel log record explained': { kind: 'data' },
    // The kills of this test are in bare cgroups, not containers: namespace, pod and container are
    // empty (absent in Prometheus' answer), and the grouped kills are one series. What the limit
    // label says of them is not pinned here.
    'OOM kills by namespace / pod / container': {
      kind: 'data',
      check: (_, [r]) => assert.ok(r !== undefined && maxOf(r) >= 1, `the kills show: ${JSON.stringify(r)}`),
    },
    'OOM kills by the limit that fired': {
      kind: 'data',
      check: (_, [r]) => assert.ok(r !== undefined && maxOf(r) >= 1, `the kills show: ${JSON.stringify(r)}`),
    },
    'OOM kills in the time range, by cgroup and owner': {
      kind: 'data',
      check: ([a]) => {
        const kills = (cgroup: string): string[] => (a ?? []).filter((s) => s.metric['cgroup'] === cgroup).map((s) => s.value[1]);
        assert.deepEqual(kills(declared), ['1'], `the declared cgroup's kill: ${JSON.stringify(a)}`);
        // Born at 1: increase() alone sees no kill in this series.
        assert.deepEqual(kills(discovered), ['1'], `the discovered cgroup's kill: ${JSON.stringify(a)}`);
      },
    },
    'Working set / limit, top 10 now': { kind: 'data' },
    'Working set / limit, top 10': { kind: 'data' },
    'Peak usage / limit, top 10': {
      kind: 'data',
      // The hog filled the declared cgroup to its limit before it was killed. Other cgroups of the
      // host may fill the top 10 with ratios as high.
      check: ([a]) => {
        const top = a ?? [];
        const peak = top.find((s) => s.metric['cgroup'] === declared);
        if (peak !== undefined) assert.ok(num(peak.value[1]) >= 0.9, `the declared cgroup reached its limit: ${JSON.stringify(top)}`);
        else assert.ok(top.length === 10 && top.every((s) => num(s.value[1]) >= 0.9), `the declared cgroup (at its limit) is missing: ${JSON.stringify(top)}`);
      },
    },
    'Limit hits (event max), top 10 cgroups': { kind: 'data' },
    'OOM events, top 10 cgroups': {
      kind: 'data',
      check: (_, [r]) => {
        const s = (r ?? []).filter((x) => x.metric['cgroup'] === declared && x.metric['event'] === 'oom_kill');
        assert.ok(s.length > 0 && maxOf(s) > 0, `the declared cgroup's oom_kill event shows: ${JSON.stringify(s)}`);
      },
    },
    'Memory events in the time range, by cgroup': {
      kind: 'data',
      check: ([a]) => {
        const events = new Set((a ?? []).filter((s) => s.metric['cgroup'] === declared).map((s) => s.metric['event']));
        assert.ok(events.has('oom_kill') && events.has('max'), `the declared cgroup's events: ${JSON.stringify(a)}`);
      },
    },
    'Memory stall (PSI some), top 10 cgroups': { kind: 'emptyOnV1', description: /Empty by design on cgroup v1 hosts/ },
    'Kernel log read': { kind: 'data', check: ([a]) => assert.deepEqual(a?.map((s) => s.value[1]), ['1']) },
    'Lost kernel log records': { kind: 'data' },
    'Kernel log records read': { kind: 'data' },
    'Scrape target up': { kind: 'data' },
    'Version and cgroup layout': { kind: 'data' },
    'cgroups watched': { kind: 'data' },
    'Collector success': { kind: 'data' },
    'Collector run time': { kind: 'data' },
    'Declared cgroups': { kind: 'data' },
    'Daemon memory (RSS)': { kind: 'data' },
    'Daemon CPU': { kind: 'data' },
    'Event loop lag (p99)': { kind: 'data' },
  };
}

describe('every panel of deploy/grafana/oomwatch.json against a real Prometheus scraping the daemon after real OOM kills', { timeout: 240_000, ...realKernel() }, () => {
  const declared = uniqueTestName('dash-declared');
  const declaredPath = `/${declared}`;
  const state = tempDir('dash');
  let discovered: TestCgroup | undefined;
  let daemon: DaemonProcess | undefined;
  let stack: PromStack | undefined;
  let stackStart = 0;

  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    assert.ok(stack !== undefined);
    const res = await fetch(`${stack.prometheusUrl}${path}?${new URLSearchParams(params).toString()}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; error?: string; errorType?: string; warnings?: string[]; data?: T };
    assert.equal(body.status, 'success', `${path} ${JSON.stringify(params)}: ${body.errorType ?? ''} ${body.error ?? res.status}`);
    assert.equal(body.warnings, undefined, `${path} ${JSON.stringify(params)}: warnings ${JSON.stringify(body.warnings)}`);
    assert.ok(body.data !== undefined);
    return body.data;
  };
  const values = (): Record<string, string> => ({
    job: 'oomwatch',
    instance: '.*',
    __range: `${Math.ceil((Date.now() - stackStart) / 1000)}s`,
    __rate_interval: '15s',
  });

  before(async () => {
    for (const p of [PROMETHEUS, ALERTMANAGER]) {
      const why = toolUnavailable(p);
      if (why !== undefined) throw new Error(why);
    }
    daemon = await startDaemon({
      stateDir: state.dir,
      pollInterval: '250ms',
      config: ['cgroups:', `  - name: ${declared}`, '    memory: 64M', ''].join('\n'),
    });
    const d = daemon;
    await d.waitForMetric('oomwatch_cgroup_memory_limit_bytes', { cgroup: declaredPath }, (v) => v === 64 * M, 15_000);
    stackStart = Date.now();
    stack = await startPromStack({ targets: [`127.0.0.1:${d.port}`], job: 'oomwatch' });
    const s = stack;
    // Prometheus has the declared cgroup's kill counter at 0, and the host's, before the kills;
    // three scrapes, so that every window of the range queries that holds the kill also holds
    // samples from before it.
    await s.waitForQuery(`oomwatch_oom_kills_total{cgroup="${declaredPath}"}`, (r) => r.length === 1 && r[0]?.value[1] === '0', 30_000);
    await s.waitForQuery('count_over_time(oomwatch_host_oom_kills_total[1m])', (r) => num(r[0]?.value[1] ?? '0') >= 3, 30_000);

    const a = await exited(spawnInCgroup(join(V1_MEMORY_MOUNT, declared), HOG));
    assert.equal(a.signal, 'SIGKILL', 'the hog in the declared cgroup was OOM-killed');
    discovered = makeV1Cgroup('dash-discovered', 64 * M);
    const b = await exited(spawnInCgroup(discovered.dir, HOG));
    assert.equal(b.signal, 'SIGKILL', 'the hog in the discovered cgroup was OOM-killed');
    for (const cgroup of [declaredPath, discovered.kernelPath]) {
      await s.waitForQuery(`sum(oomwatch_oom_kills_total{cgroup="${cgroup}"})`, (r) => r[0]?.value[1] === '1', 30_000);
    }
    // The events of the declared cgroup, scraped after the kill; and three scrapes after the last
    // kill, so that the rate windows (15 s) that end after the kills hold two samples or more.
    await s.waitForQuery(`oomwatch_cgroup_memory_events_total{cgroup="${declaredPath}", event="oom_kill"}`, (r) => r[0]?.value[1] === '1', 30_000);
    await s.waitForQuery(`count_over_time(oomwatch_oom_kills_total{cgroup="${discovered.kernelPath}"}[1m])`, (r) => num(r[0]?.value[1] ?? '0') >= 3, 30_000);
  });

  after(async () => {
    await stack?.stop();
    await daemon?.stop();
    await removeCgroupTree(join(V1_MEMORY_MOUNT, declared));
    await discovered?.cleanup();
    removePrefixIfEmpty();
    state.remove();
  });

  test('the variables\' queries find this daemon: job oomwatch, its instance', async () => {
    assert.ok(daemon !== undefined);
    const d = loadDashboard();
    const v = (name: string): Variable => {
      const found = d.templating.list.find((x) => x.name === name);
      assert.ok(found !== undefined, `variable ${name}`);
      return found;
    };
    // label_values(METRIC, LABEL) is Grafana's: it asks the label values API with match[]=METRIC.
    const labelValues = async (definition: string): Promise<string[]> => {
      const m = /^label_values\((.+), (\w+)\)$/.exec(definition);
      assert.ok(m !== null, definition);
      return api<string[]>(`/api/v1/label/${m[2] ?? ''}/values`, { 'match[]': substitute(m[1] ?? '', values()) });
    };
    assert.deepEqual(await labelValues(v('job').definition ?? ''), ['oomwatch']);
    assert.deepEqual(await labelValues(v('instance').definition ?? ''), [`127.0.0.1:${daemon.port}`]);
    // "All" is sent as allValue.
    assert.equal(v('instance').includeAll, true);
    assert.equal(v('instance').allValue, '.*');
  });

  test('every panel\'s query runs without error and returns data (or is empty by design, and says so)', async () => {
    assert.ok(daemon !== undefined && discovered !== undefined);
    const d = loadDashboard();
    const expect = expectations(declaredPath, discovered.kernelPath);
    const panels = queryPanels(d);
    assert.deepEqual(panels.map((p) => p.title).sort(), Object.keys(expect).sort(), 'every panel has an expectation here, and only those');
    const build = await api<{ result: Vector }>('/api/v1/query', { query: 'oomwatch_build_info{job="oomwatch"}' });
    const memoryV1 = build.result[0]?.metric['memory_cgroup_version'] === '1';
    /** Run one panel's targets the way Grafana does and check what they return; throws on the first problem. */
    const checkPanel = async (p: Panel, e: Expectation): Promise<void> => {
      const instant: Vector[] = [];
      const range: Matrix[] = [];
      for (const t of p.targets ?? []) {
        const query = substitute(t.expr, values());
        const r = await api<{ resultType: string; result: Vector }>('/api/v1/query', { query });
        assert.equal(r.resultType, 'vector', `${t.refId}: ${query}`);
        instant.push(r.result);
        if (t.range === true) {
          const end = Date.now() / 1000;
          const m = await api<{ resultType: string; result: Matrix }>('/api/v1/query_range', { query, start: String(stackStart / 1000), end: String(end), step: '1' });
          assert.equal(m.resultType, 'matrix', `${t.refId}: ${query}`);
          range.push(m.result);
        }
      }
      const results = [...instant, ...range];
      if (e.kind === 'emptyOnV1') {
        assert.match(p.description ?? '', e.description, 'the description says when it is empty');
        if (memoryV1) assert.ok(results.every((r) => r.length === 0), `data on a cgroup v1 host: ${JSON.stringify(results)}`);
        else assert.ok(results.every((r) => r.length > 0), `no data on a cgroup v2 host: ${JSON.stringify(results)}`);
        return;
      }
      assert.ok(results.every((r) => r.length > 0), `no data: instant ${JSON.stringify(instant)} range ${JSON.stringify(range)}`);
      e.check?.(instant, range);
    };
    const failures: string[] = [];
    for (const p of panels) {
      const e = expect[p.title];
      assert.ok(e !== undefined);
      try {
        await checkPanel(p, e);
      } catch (err) {
        failures.push(`${p.title}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, [], stack?.logs());
  });
});
