/**
 * The daemon names real kills in real runtimes' containers: a private dockerd, a standalone
 * containerd and podman (test/helpers/runtimes.ts: sockets, state and data under temporary
 * directories, the test image built on the spot), one `oomwatch daemon` whose `runtimes:` config points at their
 * files. Each container waits on a FIFO bind-mounted at /go until the daemon has read who it is
 * (its `container_identified` line with the init pid), then asks for 64M under a 32M limit.
 * Checked: the kill's log line and its counter series carry the names, which limit fired and
 * whether the init process died; the names stay after the container and its cgroup are gone; a
 * kill is counted once. Everything the test starts is stopped by PID, pass or fail.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { startDaemon, tempDir, type DaemonProcess, type LogLine } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { CONTAINERD_IMAGE, DOCKER_IMAGE, PODMAN_IMAGE, makeFifo, realRuntimes, startContainerd, startDockerd, startPodman, type Containerd, type Dockerd, type Podman, go, hex64 } from '../helpers/runtimes.js';

const LIMIT_BYTES = 32 * 2 ** 20;
/** The init shell waits for /go, then becomes dd (exec): the init process itself is killed. */
const INIT_HOG = 'cat /go >/dev/null; exec dd if=/dev/zero of=/dev/null bs=64M count=1';
/** The init shell waits for /go, runs dd as its child (killed), and lives on. */
const WORKER_HOG = 'cat /go >/dev/null; dd if=/dev/zero of=/dev/null bs=64M count=1; exec sleep 600';

describe('oomwatch daemon names kills in docker and containerd containers (real runtimes, real kills)', realRuntimes('dockerd', 'containerd'), () => {
  const state = tempDir('names');
  let docker: Dockerd | undefined;
  let ctd: Containerd | undefined;
  let d: DaemonProcess | undefined;

  before(async () => {
    docker = await startDockerd();
    ctd = await startContainerd();
    const absent = join(state.dir, 'absent');
    d = await startDaemon({
      stateDir: state.dir,
      pollInterval: '200ms',
      args: ['--log-level', 'debug'],
      config: [
        'watch: {include: ["/docker/**", "/oomwatch-test/**"]}',
        'runtimes:',
        `  host_root: ${absent}`,
        `  docker: ${docker.dataRoot}`,
        `  docker_exec: ${docker.execRoot}`,
        `  containerd_state: ${ctd.state}`,
        '',
      ].join('\n'),
    });
  });
  after(async () => {
    await d?.stop();
    await docker?.stop();
    await ctd?.stop();
    state.remove();
  });

  /** The daemon's line saying it read the container's files, with its init pid. */
  const identified = (id: string): Promise<LogLine> =>
    d!.waitForLog((l) => l.event === 'container_identified' && l['container_id'] === id && typeof l['init_pid'] === 'number', 30_000, `the daemon to read container ${id} with its init pid`);
  const killOf = (id: string): Promise<LogLine> => d!.waitForLog((l) => l.event === 'oom_kill' && l['container_id'] === id, 30_000, `the oom_kill line of container ${id}`);

  test('docker run --rm --memory 32m, labelled by cri-dockerd: the init process killed, named after its container and cgroup are gone', async () => {
    const dk = docker!;
    const podUid = randomUUID();
    const pod = `web-${randomBytes(4).toString('hex')}`;
    const name = `k8s_app_${pod}_shop_${podUid}_0`;
    const fifo = join(dk.dir, `go-${pod}`);
    await makeFifo(fifo);
    const id = await dk.runDetached([
      '--rm', '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES), '--network', 'none', '--name', name,
      '--label', `io.kubernetes.pod.name=${pod}`, '--label', 'io.kubernetes.pod.namespace=shop',
      '--label', 'io.kubernetes.container.name=app', '--label', `io.kubernetes.pod.uid=${podUid}`,
      '--label', 'io.kubernetes.docker.type=container',
      '-v', `${fifo}:/go`, DOCKER_IMAGE, 'sh', '-c', INIT_HOG,
    ]);
    const cgroup = `/docker/${id}`;
    const seen = await identified(id);
    await go(fifo);
    const k = await killOf(id);
    assert.equal(k['pid'], seen['init_pid'], 'the killed dd is the init process dockerd recorded');
    assert.deepEqual(
      [k['victim_cgroup'], k['runtime'], k['pod_uid'], k['namespace'], k['pod'], k['container'], k['image'], k['container_name']],
      [cgroup, 'docker', podUid, 'shop', pod, 'app', DOCKER_IMAGE, name],
    );
    assert.equal(k['main_process'], true);
    assert.equal(k['limit'], 'container');
    assert.equal(k['cgroup_limit_bytes'], LIMIT_BYTES);

    // --rm: the container and its cgroup go; the series keeps its names.
    await d!.waitForLog((l) => l.event === 'cgroup_removed' && l['cgroup'] === cgroup, 30_000, `the daemon to see ${cgroup} gone`);
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, cgroup)), false);
    await until(`container ${id} removed`, async () => !(await dk.docker(['ps', '-aq', '--no-trunc'])).split('\n').includes(id), Boolean, { timeoutMs: 30_000 });
    assert.equal(existsSync(join(dk.dataRoot, 'containers', id)), false, "dockerd removed the container's files");
    const labels = { container_id: id, namespace: 'shop', pod, container: 'app', limit: 'container', main_process: 'true' };
    assert.equal(await d!.metric('oomwatch_oom_kills_total', labels), 1);
  });

  test('a worker process killed inside a docker container whose init lives on: main_process false, the container still running', async (t) => {
    const dk = docker!;
    const podUid = randomUUID();
    const pod = `batch-${randomBytes(4).toString('hex')}`;
    const fifo = join(dk.dir, `go-${pod}`);
    await makeFifo(fifo);
    const id = await dk.runDetached([
      '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES), '--network', 'none',
      '--label', `io.kubernetes.pod.name=${pod}`, '--label', 'io.kubernetes.pod.namespace=jobs',
      '--label', 'io.kubernetes.container.name=worker', '--label', `io.kubernetes.pod.uid=${podUid}`,
      '-v', `${fifo}:/go`, DOCKER_IMAGE, 'sh', '-c', WORKER_HOG,
    ]);
    t.after(() => dk.docker(['rm', '-f', id]));
    const seen = await identified(id);
    await go(fifo);
    const k = await killOf(id);
    assert.equal(k['process'], 'dd');
    assert.notEqual(k['pid'], seen['init_pid']);
    assert.deepEqual([k['namespace'], k['pod'], k['container'], k['main_process'], k['limit']], ['jobs', pod, 'worker', false, 'container']);
    assert.equal(await dk.docker(['inspect', '-f', '{{.State.Running}}', id]), 'true', 'the init shell lives on');
    assert.equal(await d!.metric('oomwatch_oom_kills_total', { container_id: id, main_process: 'false' }), 1);
  });

  test('containerd (ctr run, CRI annotations, a kubepods cgroupfs path): named from the bundle, counted once', async () => {
    const c = ctd!;
    const podUid = randomUUID();
    const pod = `api-${randomBytes(4).toString('hex')}`;
    const id = hex64();
    const cgroup = c.cgroupPath('names', `kubepods/burstable/pod${podUid}/${id}`);
    const fifo = join(c.dir, `go-${pod}`);
    await makeFifo(fifo);
    await c.ctr([
      'run', '-d', '--memory-limit', String(LIMIT_BYTES), '--cgroup', cgroup,
      '--mount', `type=bind,src=${fifo},dst=/go,options=rbind:rw`,
      '--annotation', 'io.kubernetes.cri.container-type=container',
      '--annotation', `io.kubernetes.cri.sandbox-name=${pod}`, '--annotation', 'io.kubernetes.cri.sandbox-namespace=payments',
      '--annotation', `io.kubernetes.cri.sandbox-uid=${podUid}`, '--annotation', 'io.kubernetes.cri.container-name=server',
      '--annotation', `io.kubernetes.cri.image-name=${CONTAINERD_IMAGE}`,
      CONTAINERD_IMAGE, id, 'sh', '-c', INIT_HOG,
    ]);
    await identified(id);
    await go(fifo);
    const k = await killOf(id);
    assert.deepEqual(
      [k['victim_cgroup'], k['pod_uid'], k['namespace'], k['pod'], k['container'], k['image'], k['container_name'], k['main_process'], k['limit']],
      [cgroup, podUid, 'payments', pod, 'server', CONTAINERD_IMAGE, null, true, 'container'],
    );
    // The kernel's own counter of the cgroup, read by the daemon after the kill: the kill line
    // explained it, so nothing is counted twice and nothing is unexplained.
    await d!.waitForMetric('oomwatch_cgroup_memory_events_total', { cgroup, event: 'oom_kill' }, (v) => v === 1, 30_000);
    assert.equal(await d!.metric('oomwatch_oom_kills_total', { container_id: id }), 1);
    assert.equal(await d!.metric('oomwatch_unexplained_oom_kills_total', { cgroup }), undefined);
    await until(`task ${id} stopped`, async () => /\bSTOPPED\b/.test(await c.ctr(['task', 'ls'])), Boolean, { timeoutMs: 30_000 });
    await c.ctr(['task', 'delete', id]);
    await c.ctr(['container', 'delete', id]);
    await d!.waitForLog((l) => l.event === 'cgroup_removed' && l['cgroup'] === cgroup, 30_000, `the daemon to see ${cgroup} gone`);
    assert.equal(await d!.metric('oomwatch_oom_kills_total', { container_id: id, pod, container: 'server' }), 1, 'still one, still named');
  });

  test("a pod-level limit (the pod's cgroup limited, the container not): limit pod, with the pod's limit in bytes", async () => {
    const c = ctd!;
    const podUid = randomUUID();
    const pod = `cache-${randomBytes(4).toString('hex')}`;
    const id = hex64();
    const podCgroup = c.cgroupPath('podlimit', `kubepods/burstable/pod${podUid}`);
    const cgroup = `${podCgroup}/${id}`;
    // kubelet makes the pod's cgroup with its limit before the runtime makes the container's.
    const podDir = join(V1_MEMORY_MOUNT, podCgroup);
    mkdirSync(podDir, { recursive: true });
    writeFileSync(join(podDir, 'memory.limit_in_bytes'), String(LIMIT_BYTES));
    if (existsSync(join(podDir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(podDir, 'memory.memsw.limit_in_bytes'), String(LIMIT_BYTES));
    const fifo = join(c.dir, `go-${pod}`);
    await makeFifo(fifo);
    await c.ctr([
      'run', '-d', '--cgroup', cgroup,
      '--mount', `type=bind,src=${fifo},dst=/go,options=rbind:rw`,
      '--annotation', `io.kubernetes.cri.sandbox-name=${pod}`, '--annotation', 'io.kubernetes.cri.sandbox-namespace=payments',
      '--annotation', `io.kubernetes.cri.sandbox-uid=${podUid}`, '--annotation', 'io.kubernetes.cri.container-name=redis',
      CONTAINERD_IMAGE, id, 'sh', '-c', INIT_HOG,
    ]);
    await identified(id);
    await go(fifo);
    const k = await killOf(id);
    assert.deepEqual([k['victim_cgroup'], k['oom_cgroup'], k['limit']], [cgroup, podCgroup, 'pod']);
    assert.equal(k['cgroup_limit_bytes'], LIMIT_BYTES, "the pod's limit, from the report");
    assert.deepEqual([k['namespace'], k['pod'], k['container']], ['payments', pod, 'redis']);
    assert.equal(await d!.metric('oomwatch_oom_kills_total', { container_id: id, limit: 'pod' }), 1);
  });
});

describe('oomwatch daemon names kills in podman containers (containers/storage, real kills)', realRuntimes('podman'), () => {
  const state = tempDir('names-podman');
  let pm: Podman | undefined;
  let d: DaemonProcess | undefined;

  before(async () => {
    pm = await startPodman();
    d = await startDaemon({
      stateDir: state.dir,
      pollInterval: '200ms',
      args: ['--log-level', 'debug'],
      config: [
        'watch: {include: ["/oomwatch-test/**"]}',
        'runtimes:',
        `  host_root: ${join(state.dir, 'absent')}`,
        `  containers_storage: ${pm.graphRoot}`,
        `  containers_run_root: ${pm.runRoot}`,
        '',
      ].join('\n'),
    });
  });
  after(async () => {
    await d?.stop();
    await pm?.stop();
    state.remove();
  });

  test('podman run --rm --memory 32m: the init process killed, named (podman\'s name and image) after the container is gone, counted once', async () => {
    const p = pm!;
    const name = `oomwatch-test-${randomBytes(4).toString('hex')}`;
    const parent = p.cgroupParent('names-pm');
    const fifo = join(p.dir, `go-${name}`);
    await makeFifo(fifo);
    const id = await p.runDetached([
      '--rm', '--network', 'none', '--cgroup-parent', parent,
      '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES),
      '--name', name, '-v', `${fifo}:/go`, PODMAN_IMAGE, 'sh', '-c', INIT_HOG,
    ]);
    const cgroup = `${parent}/libpod-${id}`;
    const seen = await d!.waitForLog((l) => l.event === 'container_identified' && l['container_id'] === id && typeof l['init_pid'] === 'number', 30_000, `the daemon to read container ${id} with its init pid`);
    await go(fifo);
    const k = await d!.waitForLog((l) => l.event === 'oom_kill' && l['container_id'] === id, 30_000, `the oom_kill line of container ${id}`);
    assert.equal(k['pid'], seen['init_pid'], 'the killed dd is the init process podman recorded');
    assert.deepEqual(
      [k['victim_cgroup'], k['runtime'], k['image'], k['container_name'], k['main_process'], k['limit'], k['cgroup_limit_bytes']],
      [cgroup, 'podman', PODMAN_IMAGE, name, true, 'container', LIMIT_BYTES],
    );
    await until(`container ${id} removed`, async () => !(await p.podman(['ps', '-aq', '--no-trunc'])).split('\n').includes(id), Boolean, { timeoutMs: 30_000 });
    await d!.waitForLog((l) => l.event === 'cgroup_removed' && l['cgroup'] === cgroup, 30_000, `the daemon to see ${cgroup} gone`);
    assert.equal(await d!.total('oomwatch_oom_kills_total', { cgroup }), 1);
    assert.equal(d!.logs.filter((l) => l.event === 'oom_kill' && l['container_id'] === id).length, 1);
  });
});
