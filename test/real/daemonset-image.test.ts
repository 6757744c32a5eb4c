/**
 * The DaemonSet's image, run for real: `scripts/package` builds the release into a temporary
 * folder, `scripts/image` builds the image the manifest names from it and Debian's packages, and a
 * private dockerd (test/helpers/runtimes.ts) loads it. The container is then run as
 * deploy/kubernetes/daemonset.yaml runs it, every setting read from the manifest at test time:
 * its image, command and args, env, privileged, runAsUser, readOnlyRootFilesystem, the memory and
 * CPU limits (and oom_score_adj -997, which the kubelet gives a Guaranteed pod), each hostPath
 * volume bind-mounted at its mountPath (readOnly and mountPropagation honoured), the ConfigMap's
 * files at their mountPath, and the pod's own network namespace (hostNetwork: false) where the
 * test reaches the port and path the pod's annotations name.
 *
 * Host paths that stand for this test's own: /var/lib/oomwatch (the state directory) is a temporary
 * directory, and dockerd's data and exec roots (/var/lib/docker, /run/docker, and paths below them)
 * are the private dockerd's. A hostPath missing on this host whose type lets the kubelet create it
 * is an empty temporary directory (not created on the host).
 *
 * The manifest is the one source of what runs: the test reads it, checks that the container it
 * started has exactly its command, args and mounts (docker inspect), and that the image's oomwatch
 * takes every flag the manifest passes (a dry parse, which a flag it does not have fails).
 *
 * Then a real OOM kill in another container of the same dockerd (busybox `dd bs=64M` under a 32M
 * limit, labelled as cri-dockerd labels a pod's container) is counted once in the oomwatch
 * container's /metrics and named, in the series and in its `oom_kill` log line: its cgroup
 * /docker/<id>, and its namespace, pod and container from the docker files the manifest mounts
 * (the test's dockerd's, in place of /var/lib/docker). The pod is then replaced (stopped as the
 * kubelet stops it, a new container on the same state directory): a kill while no pod ran is
 * counted once by the new pod, from the cursor on the host path, and the first kill is not
 * counted again.
 *
 * Where this host cannot do what a kubelet does, the test does the nearest thing and says so in a
 * diagnostic: privileged without the capabilities root's bounding set lacks (runc cannot grant
 * them), no oom_score_adj -997 without CAP_SYS_RESOURCE, no HostToContainer propagation from a
 * private host mount (dockerd refuses rslave there).
 *
 * Stopped by PID, pass or fail: the containers and dockerd (with its data root: the images), and
 * the temporary folders. ≈ 1–2 min, most of it scripts/package.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { TOP } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { DOCKER_IMAGE, makeFifo, realRuntimes, run, startDockerd, type Dockerd, go } from '../helpers/runtimes.js';

const K8S = join(TOP, 'deploy', 'kubernetes');
const VERSION = (JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
/** Waits for the go signal on /go, then asks for 64M under a 32M limit (dd touches its whole buffer). */
const HOG_SCRIPT = 'cat /go >/dev/null; dd if=/dev/zero of=/dev/null bs=64M count=1';
const LIMIT_BYTES = 32 * 2 ** 20;

type Obj = Record<string, any>;

/** The documents of deploy/kubernetes/FILE. */
function manifest(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => d.toJS() as Obj);
}

/** The DaemonSet's pod spec, its one container, and the ConfigMap's data. */
function daemonSet(): { pod: Obj; container: Obj; annotations: Record<string, string>; configMaps: Map<string, Record<string, string>> } {
  const [ds] = manifest('daemonset.yaml').filter((d) => d['kind'] === 'DaemonSet');
  assert.ok(ds, 'a DaemonSet in daemonset.yaml');
  const pod = ds['spec']['template']['spec'] as Obj;
  const containers = pod['containers'] as Obj[];
  assert.equal(containers.length, 1, 'one container in the pod');
  const configMaps = new Map<string, Record<string, string>>();
  for (const d of manifest('configmap.yaml')) if (d['kind'] === 'ConfigMap') configMaps.set(d['metadata']['name'], d['data']);
  return { pod, container: containers[0]!, annotations: ds['spec']['template']['metadata']['annotations'] ?? {}, configMaps };
}

/** A Kubernetes quantity ("256Mi", "200m", "1") as a number (bytes, cores). */
function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(q);
  assert.ok(m, `quantity ${q}: not one of the forms this test reads`);
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * scale;
}

/** How the test stands in for the node: its own directories for the host paths the test owns. */
interface Node {
  /** Host path prefix → this test's directory (the longest prefix wins). */
  readonly hostPaths: Record<string, string>;
  /** Where the ConfigMaps' files and the empty directories go. */
  readonly scratch: string;
}

/** The host side of a hostPath volume, checked against its `type` as the kubelet checks it. */
function hostSource(volume: Obj, node: Node): string {
  const path = volume['hostPath']['path'] as string;
  const type = (volume['hostPath']['type'] ?? '') as string;
  const prefix = Object.keys(node.hostPaths)
    .filter((p) => path === p || path.startsWith(`${p}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix !== undefined) {
    const mine = join(node.hostPaths[prefix]!, path.slice(prefix.length));
    mkdirSync(mine, { recursive: true });
    return mine;
  }
  if (!existsSync(path)) {
    assert.ok(type === '' || type === 'DirectoryOrCreate', `hostPath ${path} (type ${type}) does not exist on this host: the kubelet would not start the pod`);
    const empty = join(node.scratch, 'empty', volume['name']);
    mkdirSync(empty, { recursive: true });
    return empty;
  }
  const st = statSync(path);
  const ok: Record<string, boolean> = { '': true, Directory: st.isDirectory(), DirectoryOrCreate: st.isDirectory(), CharDevice: st.isCharacterDevice(), File: st.isFile(), FileOrCreate: st.isFile(), Socket: st.isSocket() };
  assert.ok(ok[type], `hostPath ${path} is not of type ${type}`);
  return path;
}

/** Linux capabilities by number (include/uapi/linux/capability.h), as docker names them. */
const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE',
  'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];
const CAP_SYS_RESOURCE = CAPABILITIES.indexOf('SYS_RESOURCE');

/** This process's capability set FIELD (CapEff, CapBnd) from /proc/self/status. */
function capabilitySet(field: string): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  assert.ok(m, `${field} in /proc/self/status`);
  return BigInt(`0x${m[1]}`);
}

function hasCapability(bit: number): boolean {
  return ((capabilitySet('CapEff') >> BigInt(bit)) & 1n) === 1n;
}

/** The capabilities the kernel has (up to cap_last_cap) that this process's bounding set lacks. */
function missingCapabilities(): string[] {
  const last = Math.min(Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')), CAPABILITIES.length - 1);
  const bounding = capabilitySet('CapBnd');
  return CAPABILITIES.slice(0, last + 1).filter((_, bit) => ((bounding >> BigInt(bit)) & 1n) === 0n);
}

/** Whether the mount `path` is on propagates (its mountinfo optional fields say shared:N or master:N). */
function sharedOrSlave(path: string): boolean {
  let best: { point: string; fields: string[] } | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const point = (f[4] ?? '').replace(/\\040/g, ' ');
    const sep = f.indexOf('-');
    if (sep < 0 || !(path === point || path.startsWith(point === '/' ? '/' : `${point}/`))) continue;
    if (best === undefined || point.length >= best.point.length) best = { point, fields: f.slice(6, sep) };
  }
  return best !== undefined && best.fields.some((x) => x.startsWith('shared:') || x.startsWith('master:'));
}

/**
 * `docker run` arguments for the pod's container as the manifest declares it, up to the image
 * (the entrypoint is the command's first word), and the words after the image: the command's
 * rest, then the args.
 */
function dockerRun(node: Node, name: string): { options: string[]; image: string; argv: string[]; mounts: { destination: string; rw: boolean }[]; notes: string[] } {
  const { pod, container, configMaps } = daemonSet();
  const options = ['--name', name];
  const notes: string[] = [];
  assert.equal(pod['hostPID'] ?? false, false, 'this test runs a pod without hostPID');
  // hostNetwork: false is the pod's own network namespace; this dockerd has no bridge, so the
  // namespace has its loopback only, where the test reaches the pod.
  options.push('--network', pod['hostNetwork'] === true ? 'host' : 'none');
  const sc = (container['securityContext'] ?? {}) as Obj;
  if (sc['privileged'] === true) {
    // What privileged gives: every capability, every device (the device cgroup lifted: the reason
    // the manifest asks for it), no seccomp or AppArmor profile, /proc and /sys unmasked. runc
    // cannot give a capability outside its own bounding set: where root lacks some (a sandbox),
    // the container gets all the others, and the test says which.
    const missing = missingCapabilities();
    if (missing.length === 0) options.push('--privileged');
    else {
      options.push('--cap-add', 'ALL', ...missing.flatMap((c) => ['--cap-drop', c]), '--device-cgroup-rule', 'a *:* rwm');
      for (const o of ['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined']) options.push('--security-opt', o);
      notes.push(`privileged without ${missing.join(', ')}: not in this host's capability bounding set`);
    }
  }
  if (sc['runAsUser'] !== undefined) options.push('--user', String(sc['runAsUser']));
  if (sc['readOnlyRootFilesystem'] === true) options.push('--read-only');
  const limits = (container['resources']?.['limits'] ?? {}) as Obj;
  const requests = (container['resources']?.['requests'] ?? {}) as Obj;
  if (limits['memory'] !== undefined) options.push('--memory', String(quantity(limits['memory'])));
  if (limits['cpu'] !== undefined) options.push('--cpus', String(quantity(limits['cpu'])));
  const guaranteed = ['cpu', 'memory'].every((r) => limits[r] !== undefined && quantity(requests[r] ?? limits[r]) === quantity(limits[r]));
  // The kubelet gives a Guaranteed pod's processes oom_score_adj -997. Lowering it takes
  // CAP_SYS_RESOURCE, which root may lack in a sandbox: then the test says so.
  if (guaranteed && hasCapability(CAP_SYS_RESOURCE)) options.push('--oom-score-adj', '-997');
  else if (guaranteed) notes.push('oom_score_adj -997 (Guaranteed QoS) not applied: no CAP_SYS_RESOURCE here');
  for (const e of (container['env'] ?? []) as Obj[]) {
    assert.ok(typeof e['value'] === 'string', `env ${e['name']}: only plain values are run by this test`);
    options.push('--env', `${e['name']}=${e['value']}`);
  }
  const volumes = new Map<string, Obj>(((pod['volumes'] ?? []) as Obj[]).map((v) => [v['name'], v]));
  const mounts: { destination: string; rw: boolean }[] = [];
  for (const m of (container['volumeMounts'] ?? []) as Obj[]) {
    const v = volumes.get(m['name']);
    assert.ok(v, `volumeMount ${m['name']} has a volume`);
    let source: string;
    if (v['hostPath'] !== undefined) {
      source = hostSource(v, node);
    } else if (v['configMap'] !== undefined) {
      const data = configMaps.get(v['configMap']['name']);
      assert.ok(data, `ConfigMap ${v['configMap']['name']} in configmap.yaml`);
      source = join(node.scratch, 'configmap', v['name']);
      mkdirSync(source, { recursive: true });
      for (const [file, text] of Object.entries(data)) writeFileSync(join(source, file), text);
    } else {
      assert.fail(`volume ${v['name']}: only hostPath and configMap volumes are run by this test`);
    }
    const readOnly = m['readOnly'] === true;
    let propagation = { HostToContainer: 'rslave', Bidirectional: 'rshared', None: '' }[(m['mountPropagation'] ?? 'None') as string];
    assert.ok(propagation !== undefined, `volumeMount ${m['name']}: mountPropagation ${m['mountPropagation']}`);
    // rslave and rshared need a source mount that is shared or a slave (dockerd and the CRI
    // runtimes refuse them otherwise). A systemd host makes every mount shared; a host whose
    // mounts are private gets the default, and the test says so.
    if (propagation !== '' && !sharedOrSlave(source)) {
      notes.push(`${m['mountPath']}: mountPropagation ${m['mountPropagation']} not applied, ${source} is a private mount on this host`);
      propagation = '';
    }
    options.push('--mount', `type=bind,source=${source},target=${m['mountPath']}${readOnly ? ',readonly' : ''}${propagation ? `,bind-propagation=${propagation}` : ''}`);
    mounts.push({ destination: m['mountPath'], rw: !readOnly });
  }
  const command = (container['command'] ?? []) as string[];
  if (command.length > 0) options.push('--entrypoint', command[0]!);
  return { options, image: container['image'], argv: [...command.slice(1), ...((container['args'] ?? []) as string[])], mounts, notes };
}

/** GET http://127.0.0.1:PORT/PATH inside the network namespace of the container whose init is `pid`. */
async function getInPod(pid: number, port: number, path: string): Promise<{ status: number; body: string }> {
  const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stderr.write(String(e.cause ?? e)); process.exit(1); })`;
  const out = await run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', script], { timeoutMs: 15_000 });
  return JSON.parse(out.stdout) as { status: number; body: string };
}

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition. */
function samples(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
}

/** The JSON lines a container wrote on stdout (`docker logs`), those that parse. */
async function jsonLogs(d: Dockerd, name: string): Promise<Obj[]> {
  return (await d.docker(['logs', name])).split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as Obj];
    } catch {
      return [];
    }
  });
}

/**
 * `docker run` the image with only the manifest's command and args (no volumes): what the image's
 * oomwatch says on stderr, and its exit status.
 */
async function dryRun(d: Dockerd, image: string, command: string[], args: string[]): Promise<{ status: number; stderr: string }> {
  try {
    await run('docker', ['-H', `unix://${d.socket}`, 'run', '--rm', '--network', 'none', '--entrypoint', command[0]!, image, ...command.slice(1), ...args]);
    return { status: 0, stderr: '' };
  } catch (err) {
    const m = /: exit (\d+): ([\s\S]*)$/.exec((err as Error).message);
    assert.ok(m, (err as Error).message);
    return { status: Number(m[1]), stderr: m[2]! };
  }
}

describe('the DaemonSet image (scripts/image), run as deploy/kubernetes/ runs it', { ...realRuntimes('dockerd'), timeout: 20 * 60_000 }, () => {
  let work = '';
  let docker: Dockerd | undefined;
  let archive = '';
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'oomwatch-image-'));
    const out = join(work, 'release');
    // The release from the compiled checkout, then the image from it (scripts/package and
    // scripts/image, as a user runs them), then the private dockerd that loads it.
    await run('bash', [join(TOP, 'scripts', 'package'), out], { timeoutMs: 25 * 60_000, cwd: TOP });
    await run('bash', [join(TOP, 'scripts', 'image'), join(out, `oomwatch-${VERSION}-linux-x64.tar.gz`), out], { timeoutMs: 10 * 60_000, cwd: TOP });
    archive = join(out, `oomwatch-image-${VERSION}.tar`);
    docker = await startDockerd();
  });
  after(async () => {
    try {
      await docker?.stop();
    } finally {
      if (work !== '') rmSync(work, { recursive: true, force: true });
    }
  });

  test('scripts/image tags the image the manifest names, and `docker load` takes it', async () => {
    const d = docker!;
    const { container } = daemonSet();
    assert.equal(container['image'], `oomwatch:${VERSION}`, 'daemonset.yaml names the image scripts/image builds');
    const loaded = await d.docker(['load', '-i', archive]);
    assert.match(loaded, new RegExp(`Loaded image: ${container['image']}$`, 'm'));
    const [config] = JSON.parse(await d.docker(['image', 'inspect', container['image']])) as Obj[];
    assert.deepEqual([config!['Config']['Entrypoint'], config!['Config']['Cmd']], [['/usr/local/bin/oomwatch'], ['daemon']]);
  });

  test("the image's oomwatch takes every flag the manifest passes (a dry parse)", async () => {
    const d = docker!;
    const { container } = daemonSet();
    const command = container['command'] as string[];
    const args = container['args'] as string[];
    const at = args.indexOf('daemon');
    const config = args.slice(at).find((a) => a.startsWith('--config='))?.slice('--config='.length);
    assert.ok(at >= 0 && config !== undefined, `the daemon subcommand with --config= in ${JSON.stringify(args)}`);
    // Without the ConfigMap's volume the config file is missing: the daemon's action stops there,
    // which it reaches only when commander took every flag and its value.
    const parsed = await dryRun(d, container['image'], command, args);
    assert.deepEqual(parsed, { status: 2, stderr: `oomwatch: ${config}: config file not found` });
    // A flag oomwatch does not have, before or after the subcommand, stops it before that.
    for (const at2 of [at, args.length]) {
      const bad = [...args.slice(0, at2), '--no-such-flag', ...args.slice(at2)];
      const r = await dryRun(d, container['image'], command, bad);
      assert.match(r.stderr, /^error: unknown option '--no-such-flag'/, JSON.stringify(bad));
    }
  });

  test('a real OOM kill in another container is counted once and named; a replaced pod counts a kill made while none ran, once, and not the first again', async (t) => {
    const d = docker!;
    const { container, annotations } = daemonSet();
    const node: Node = {
      hostPaths: { '/var/lib/oomwatch': join(work, 'state'), '/var/lib/docker': d.dataRoot, '/run/docker': d.execRoot },
      scratch: join(work, 'node'),
    };
    const port = Number(annotations['prometheus.io/port']);
    const path = annotations['prometheus.io/path'] ?? '/metrics';
    const metricsPort = ((container['ports'] ?? []) as Obj[]).find((p) => p['name'] === 'metrics');
    assert.equal(metricsPort?.['containerPort'], port, 'the scrape annotation names the container port "metrics"');
    const grace = Number((daemonSet().pod['terminationGracePeriodSeconds'] ?? 30) as number);

    const noted = new Set<string>();
    /** Start the pod's container; its init pid once /healthz answers. */
    const startPod = async (name: string): Promise<number> => {
      const spec = dockerRun(node, name);
      for (const n of spec.notes) if (!noted.has(n)) t.diagnostic((noted.add(n), n));
      const id = await d.docker(['run', '-d', ...spec.options, spec.image, ...spec.argv]);
      // What runs is what the manifest says: the same words, the same mounts.
      const [info] = JSON.parse(await d.docker(['inspect', id])) as Obj[];
      assert.deepEqual([...info!['Config']['Entrypoint'], ...info!['Config']['Cmd']], [...container['command'], ...container['args']]);
      assert.deepEqual(
        (info!['Mounts'] as Obj[]).map((m) => ({ destination: m['Destination'], rw: m['RW'] })).sort((a, b) => a.destination.localeCompare(b.destination)),
        [...spec.mounts].sort((a, b) => a.destination.localeCompare(b.destination)),
      );
      const pid = Number(info!['State']['Pid']);
      await until(
        `${name}'s /healthz on port ${port} in its network namespace`,
        async () => {
          const [s] = JSON.parse(await d.docker(['inspect', id])) as Obj[];
          if (s!['State']['Running'] !== true) throw new Error(`${name} is not running (${s!['State']['Status']}):\n${await d.docker(['logs', id]).catch(String)}`);
          return getInPod(pid, port, '/healthz').catch(() => undefined);
        },
        (r) => r?.status === 200,
        { timeoutMs: 60_000, everyMs: 250 },
      );
      return pid;
    };
    const scrape = async (pid: number): Promise<Sample[]> => {
      const r = await getInPod(pid, port, path);
      assert.equal(r.status, 200);
      return samples(r.body);
    };
    const killsOf = (s: Sample[], cgroup: string) => s.filter((x) => x.name === 'oomwatch_oom_kills_total' && x.labels['cgroup'] === cgroup);
    const seen = (s: Sample[], cgroup: string) => s.some((x) => x.name === 'oomwatch_cgroup_memory_limit_bytes' && x.labels['cgroup'] === cgroup && x.value === LIMIT_BYTES);

    /** A pod's container (cri-dockerd's name and labels) that waits on a FIFO, then is OOM-killed. */
    const victim = async (): Promise<{ id: string; cgroup: string; fifo: string; pod: string }> => {
      const podUid = randomUUID();
      const pod = `web-${randomBytes(4).toString('hex')}`;
      const fifo = join(work, `go-${pod}`);
      await makeFifo(fifo);
      // No --rm: the container's files stay for whoever names it after the kill.
      const id = await d.runDetached([
        '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES), '--network', 'none',
        '--name', `k8s_app_${pod}_shop_${podUid}_0`,
        '--label', `io.kubernetes.pod.name=${pod}`,
        '--label', 'io.kubernetes.pod.namespace=shop',
        '--label', 'io.kubernetes.container.name=app',
        '--label', `io.kubernetes.pod.uid=${podUid}`,
        '--label', 'io.kubernetes.docker.type=container',
        '-v', `${fifo}:/go`,
        DOCKER_IMAGE, 'sh', '-c', HOG_SCRIPT,
      ]);
      return { id, cgroup: `/docker/${id}`, fifo, pod };
    };

    /** The victim is discovered, killed, counted, and its cgroup seen gone by a poll after the kill. */
    const killAndCount = async (pid: number, v: { id: string; cgroup: string; fifo: string }): Promise<Sample[]> => {
      await until(`oomwatch to discover ${v.cgroup} with its 32M limit`, () => scrape(pid), (s) => seen(s, v.cgroup), { timeoutMs: 30_000, everyMs: 250 });
      await go(v.fifo);
      await until(`a kill counted for ${v.cgroup}`, () => scrape(pid), (s) => killsOf(s, v.cgroup).length > 0, { timeoutMs: 30_000, everyMs: 250 });
      // The cgroup's gauges go when a poll finds it gone: the counters have had their say by then.
      return until(`oomwatch to see ${v.cgroup} gone`, () => scrape(pid), (s) => !seen(s, v.cgroup), { timeoutMs: 30_000, everyMs: 250 });
    };
    /** One series at 1; `named`: with the names the pod read from the docker files the manifest mounts. */
    const assertCountedOnce = (s: Sample[], v: { id: string; cgroup: string; pod: string }, named: boolean) => {
      const names = (x: Sample) => (named ? [x.labels['namespace'], x.labels['pod'], x.labels['container']] : []);
      assert.deepEqual(
        killsOf(s, v.cgroup).map((x) => [x.labels['runtime'], x.labels['container_id'], ...names(x), x.value]),
        [['docker', v.id, ...(named ? ['shop', v.pod, 'app'] : []), 1]],
        `one kill of ${v.cgroup}:\n${s.filter((x) => x.name.includes('oom_kills')).map((x) => JSON.stringify(x)).join('\n')}`,
      );
      assert.equal(s.filter((x) => x.name === 'oomwatch_unexplained_oom_kills_total' && x.labels['cgroup'] === v.cgroup).length, 0);
    };
    const killLines = async (name: string, cgroup: string) => (await jsonLogs(d, name)).filter((l) => l['event'] === 'oom_kill' && l['victim_cgroup'] === cgroup);

    const first = `oomwatch-${randomBytes(4).toString('hex')}`;
    const pid1 = await startPod(first);
    const health = JSON.parse((await getInPod(pid1, port, '/healthz')).body) as Obj;
    // The host's cgroups through the manifest's mount, the kernel log through /dev/kmsg.
    assert.equal(health['status'], 'ok', JSON.stringify(health));
    assert.equal(health['cgroup']['mount'], join(String(container['args'].find((a: string) => a.startsWith('--cgroup-root='))).slice('--cgroup-root='.length), 'memory'));
    const v1 = await victim();
    t.diagnostic(`victim ${v1.cgroup}`);
    assertCountedOnce(await killAndCount(pid1, v1), v1, true);
    const lines = await killLines(first, v1.cgroup);
    assert.equal(lines.length, 1, `one oom_kill line for ${v1.cgroup}`);
    assert.deepEqual(
      [lines[0]!['process'], lines[0]!['runtime'], lines[0]!['container_id'], lines[0]!['namespace'], lines[0]!['pod'], lines[0]!['container']],
      ['dd', 'docker', v1.id, 'shop', v1.pod, 'app'],
    );

    // The kubelet replaces the pod: SIGTERM with the grace period, then a new container on the same
    // host path. A kill while no pod runs is read from the kmsg cursor in the state directory: counted
    // once by the new pod (a pod without the cursor starts at the end of the kernel log and loses
    // it), and the first kill, before the cursor, is not counted again.
    await d.docker(['stop', '-t', String(grace), first]);
    const state = readFileSync(join(node.hostPaths['/var/lib/oomwatch']!, 'state.jsonl'), 'utf8');
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.match(state, new RegExp(`"boot_id":"${bootId}","seq":\\d+`), `the cursor is on the host path:\n${state}`);
    const v2 = await victim();
    t.diagnostic(`victim ${v2.cgroup}, killed while no oomwatch pod runs`);
    await go(v2.fifo);
    await until(`docker to see ${v2.id} OOM-killed`, async () => (JSON.parse(await d.docker(['inspect', v2.id])) as Obj[])[0]!['State'], (st: Obj) => st['Status'] === 'exited' && st['OOMKilled'] === true, { timeoutMs: 30_000, everyMs: 250 });
    const second = `oomwatch-${randomBytes(4).toString('hex')}`;
    const pid2 = await startPod(second);
    const after2 = await until(`the replaced pod to count ${v2.cgroup}`, () => scrape(pid2), (x) => killsOf(x, v2.cgroup).length > 0, { timeoutMs: 30_000, everyMs: 250 });
    assertCountedOnce(after2, v2, false);
    // The second kill comes after the first in the kernel log: once it is counted, the first was passed.
    assert.deepEqual(killsOf(after2, v1.cgroup), [], `the replaced pod does not count ${v1.cgroup} again`);
    assert.deepEqual(await killLines(second, v1.cgroup), []);
    assert.equal((await killLines(second, v2.cgroup)).length, 1);
  });
});
