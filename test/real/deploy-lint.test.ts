/**
 * deploy/ linted with Debian's yamllint (config deploy/.yamllint), and the Kubernetes manifests
 * checked for what kubectl's schema validation cannot check offline (it downloads the schema from
 * a live API server; Debian has no kubectl package anyway): the pieces must fit each other and
 * give the daemon exactly the host access the README promises.
 * The manifests are read with python3-yaml, which yamllint depends on (so it is there when
 * yamllint is): YAML 1.1 parsing like kubectl's, into JSON for the assertions.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOP } from '../helpers/cli.js';
import { requireTools } from '../helpers/promstack.js';

const DEPLOY = join(TOP, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');

function yamllint(dir: string): { status: number | null; out: string } {
  const r = spawnSync('yamllint', ['-f', 'parsable', '-c', join(dir, '.yamllint'), dir], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

type Obj = Record<string, any>;

/** Every document of a YAML file, as JSON (python3-yaml's safe_load_all). */
function loadYaml(path: string): Obj[] {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml\njson.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)', path], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, `python3-yaml could not read ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Obj[];
}

const tmp: string[] = [];
after(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe('yamllint on deploy/', { timeout: 60_000 }, () => {
  test('every YAML file under deploy/ is clean', (t) => {
    if (!requireTools(t, 'yamllint')) return;
    const r = yamllint(DEPLOY);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, '');
  });

  test('the lint can fail: a duplicate key, a yes/no boolean, a long line', (t) => {
    if (!requireTools(t, 'yamllint')) return;
    const dir = mkdtempSync(join(tmpdir(), 'oomwatch-yamllint-'));
    tmp.push(dir);
    cpSync(DEPLOY, dir, { recursive: true });
    writeFileSync(
      join(dir, 'kubernetes', 'broken.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: x\n  annotations:\n    enabled: yes\n    long: "${'x'.repeat(130)}"\n`,
    );
    const r = yamllint(dir);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /broken\.yaml:3:1: \[error\] duplication of key "kind"/);
    assert.match(r.out, /broken\.yaml:7:\d+: \[warning\] truthy value/);
    assert.match(r.out, /broken\.yaml:8:\d+: \[error\] line too long/);
  });
});

describe('deploy/kubernetes: the manifests fit together', { timeout: 60_000 }, () => {
  const all = (): Obj[] =>
    readdirSync(K8S)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .flatMap((f) => loadYaml(join(K8S, f)).map((d) => ({ ...d, __file: f })));
  const one = (kind: string): Obj => {
    const found = all().filter((d) => d['kind'] === kind);
    assert.equal(found.length, 1, `exactly one ${kind}`);
    return found[0] as Obj;
  };

  test('kustomization lists every manifest but the optional ServiceMonitor; one namespace for all', (t) => {
    if (!requireTools(t, 'python3')) return;
    const kz = one('Kustomization');
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml' && f !== 'servicemonitor.yaml');
    assert.deepEqual([...(kz['resources'] as string[])].sort(), files.sort());
    const ns = one('Namespace')['metadata']['name'] as string;
    for (const d of all().filter((x) => !['Namespace', 'Kustomization'].includes(x['kind']))) {
      assert.equal(d['metadata']['namespace'], ns, `${d['__file']} is in namespace ${ns}`);
    }
    assert.equal(one('Namespace')['metadata']['labels']['pod-security.kubernetes.io/enforce'], 'privileged');
  });

  test('the DaemonSet: one pod per node on every node, host access exactly as documented', (t) => {
    if (!requireTools(t, 'python3')) return;
    const ds = one('DaemonSet');
    const spec = ds['spec']['template']['spec'] as Obj;
    const labels = ds['spec']['template']['metadata']['labels'] as Record<string, string>;
    for (const [k, v] of Object.entries(ds['spec']['selector']['matchLabels'] as Record<string, string>)) assert.equal(labels[k], v);
    assert.equal(spec['priorityClassName'], 'system-node-critical');
    assert.deepEqual(spec['tolerations'], [{ operator: 'Exists' }], 'tolerates every taint');
    assert.equal(spec['hostNetwork'], false);
    assert.equal(spec['serviceAccountName'], one('ServiceAccount')['metadata']['name']);
    assert.equal(spec['automountServiceAccountToken'], false);

    assert.equal((spec['containers'] as Obj[]).length, 1);
    const c = (spec['containers'] as Obj[])[0] as Obj;
    const res = c['resources'] as Obj;
    assert.ok(res['limits']['memory'] && res['limits']['cpu'], 'limits set');
    assert.deepEqual(res['requests'], res['limits'], 'Guaranteed QoS (oom_score_adj -997): the watcher dies last');
    assert.equal(c['securityContext']['readOnlyRootFilesystem'], true);

    const volumes = new Map((spec['volumes'] as Obj[]).map((v) => [v['name'] as string, v]));
    const mounts = new Map((c['volumeMounts'] as Obj[]).map((m) => [m['name'] as string, m]));
    assert.deepEqual([...mounts.keys()].sort(), [...volumes.keys()].sort(), 'every volume is mounted, every mount has a volume');
    const host = (name: string): [string, string, boolean] => [
      volumes.get(name)?.['hostPath']?.['path'],
      mounts.get(name)?.['mountPath'],
      mounts.get(name)?.['readOnly'] === true,
    ];
    assert.deepEqual(host('kmsg'), ['/dev/kmsg', '/dev/kmsg', true]);
    assert.equal(volumes.get('kmsg')?.['hostPath']?.['type'], 'CharDevice');
    assert.deepEqual(host('proc'), ['/proc', '/host/proc', true]);
    assert.deepEqual(host('cgroup'), ['/sys/fs/cgroup', '/host/sys/fs/cgroup', true]);
    assert.deepEqual(host('state'), ['/var/lib/oomwatch', '/var/lib/oomwatch', false]);

    // The command line points each root at its mount, and the config at the ConfigMap's file.
    const args = c['args'] as string[];
    const at = args.indexOf('daemon');
    assert.ok(at > 0, `'daemon' subcommand in ${JSON.stringify(args)}`);
    assert.ok(args.slice(0, at).includes(`--proc-root=${host('proc')[1]}`), 'global --proc-root before the subcommand');
    assert.ok(args.slice(0, at).includes(`--cgroup-root=${host('cgroup')[1]}`), 'global --cgroup-root before the subcommand');
    const config = args.slice(at).find((a) => a.startsWith('--config='))?.slice('--config='.length);
    assert.equal(config, `${mounts.get('config')?.['mountPath']}/config.yml`);
    assert.equal(volumes.get('config')?.['configMap']?.['name'], one('ConfigMap')['metadata']['name']);
  });

  test('the ConfigMap config: listens on the container port, state in the hostPath, no declared cgroups (read-only cgroup mount)', (t) => {
    if (!requireTools(t, 'python3')) return;
    const dir = mkdtempSync(join(tmpdir(), 'oomwatch-k8s-config-'));
    tmp.push(dir);
    const text = one('ConfigMap')['data']['config.yml'] as string;
    writeFileSync(join(dir, 'config.yml'), text);
    const cfg = loadYaml(join(dir, 'config.yml'))[0] as Obj;
    const c = (one('DaemonSet')['spec']['template']['spec']['containers'] as Obj[])[0] as Obj;
    const port = (c['ports'] as Obj[]).find((p) => p['name'] === 'metrics')?.['containerPort'];
    assert.equal(cfg['listen'], `:${port}`);
    assert.equal(cfg['state_dir'], '/var/lib/oomwatch');
    assert.deepEqual(cfg['cgroups'], []);
    const ann = one('DaemonSet')['spec']['template']['metadata']['annotations'] as Record<string, string>;
    assert.equal(ann['prometheus.io/scrape'], 'true');
    assert.equal(ann['prometheus.io/port'], String(port));
  });

  test('the headless Service and the ServiceMonitor reach the pods on the metrics port, as job "oomwatch"', (t) => {
    if (!requireTools(t, 'python3')) return;
    const svc = one('Service');
    const podLabels = one('DaemonSet')['spec']['template']['metadata']['labels'] as Record<string, string>;
    assert.equal(svc['spec']['clusterIP'], 'None');
    for (const [k, v] of Object.entries(svc['spec']['selector'] as Record<string, string>)) assert.equal(podLabels[k], v);
    const port = (svc['spec']['ports'] as Obj[])[0] as Obj;
    assert.equal(port['name'], 'metrics');
    assert.equal(port['targetPort'], 'metrics');
    const sm = one('ServiceMonitor');
    for (const [k, v] of Object.entries(sm['spec']['selector']['matchLabels'] as Record<string, string>)) assert.equal(svc['metadata']['labels'][k], v);
    assert.deepEqual(sm['spec']['namespaceSelector']['matchNames'], [svc['metadata']['namespace']]);
    assert.equal(sm['spec']['endpoints'][0]['port'], 'metrics');
    // jobLabel names a Service label whose value becomes job: the rules expect "oomwatch".
    assert.equal(svc['metadata']['labels'][sm['spec']['jobLabel']], 'oomwatch');
  });
});
