/**
 * Real runtimes, real kills: a container labelled as Kubernetes labels it (by cri-dockerd for
 * docker, by the CRI plugin's annotations for containerd) is named by readIdentity from the
 * runtime's own files while it runs, then is OOM-killed (a 32M limit, busybox `dd bs=64M`); the
 * kernel's kill record, read with the project's kmsg reader and report parser, names its cgroup;
 * after it ends its files and its cgroup are gone. Each container waits on a FIFO bind-mounted
 * into it, so the names are read before the kill. One daemon per runtime, started once
 * (test/helpers/runtimes.ts) and stopped, with all it started, pass or fail.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { openKmsgReader, type KmsgReader } from '../../src/kmsg/reader.js';
import { DEFAULT_ROOTS } from '../../src/roots.js';
import { OomReportParser } from '../../src/oom/report.js';
import { feedKmsgEvents } from '../../src/oom/kmsgFeed.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { resolveOwner } from '../../src/oom/owner.js';
import { limitFired } from '../../src/oom/limit.js';
import { readIdentity } from '../../src/runtime/read.js';
import type { RuntimeRoots } from '../../src/runtime/roots.js';
import type { ContainerIdentity } from '../../src/runtime/identity.js';
import { V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { until } from '../helpers/until.js';
import { CONTAINERD_IMAGE, DOCKER_IMAGE, PODMAN_IMAGE, makeFifo, realRuntimes, startContainerd, startDockerd, startPodman, type Containerd, type Dockerd, type Podman, go, hex64 } from '../helpers/runtimes.js';

/** Waits for the go signal on /go, then asks for 64M under a 32M limit (dd touches its whole buffer). */
const HOG_SCRIPT = 'cat /go >/dev/null; dd if=/dev/zero of=/dev/null bs=64M count=1';
const LIMIT_BYTES = 32 * 2 ** 20;

/** The kernel's kills from now on, as the daemon sees them: the kmsg reader fed to the report parser. */
async function watchKills(): Promise<{ kills: OomKillEvent[]; reader: KmsgReader }> {
  const kills: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => kills.push(e) });
  const reader = await openKmsgReader({
    roots: DEFAULT_ROOTS,
    from: 'end',
    onEvents: (events) => {
      feedKmsgEvents(parser, events);
      parser.idle();
    },
  });
  return { kills, reader };
}

/** The pids in a cgroup of the v1 memory hierarchy (`/docker/<id>` as the kernel prints it); [] when it is gone. */
function memoryCgroupPids(kernelPath: string): number[] {
  try {
    return readFileSync(join(V1_MEMORY_MOUNT, kernelPath, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** readIdentity as the daemon will call it: the owner resolved from the kernel's cgroup path. */
function identityOf(cgroup: string, roots: RuntimeRoots): ContainerIdentity | null {
  const read = readIdentity(resolveOwner(cgroup), roots);
  assert.equal(read.error, null, `reading ${read.errorFile}: ${read.error?.message}`);
  return read.identity;
}

describe('docker (private dockerd, cgroupfs driver, cri-dockerd labels)', realRuntimes('dockerd'), () => {
  let docker: Dockerd | undefined;
  before(async () => {
    docker = await startDockerd();
  });
  after(async () => {
    await docker?.stop();
  });

  test('readIdentity names the running container from config.v2.json; the OOM kill names /docker/<id>; then both are gone', async (t) => {
    const d = docker!;
    const podUid = randomUUID();
    const pod = `web-${randomBytes(4).toString('hex')}`;
    // cri-dockerd's container name: k8s_<container>_<pod>_<namespace>_<pod uid>_<attempt>.
    const name = `k8s_app_${pod}_shop_${podUid}_0`;
    const fifo = join(d.dir, `go-${pod}`);
    await makeFifo(fifo);
    const { kills, reader } = await watchKills();
    t.after(() => reader.stop());
    const id = await d.runDetached([
      '--rm', '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES), '--network', 'none',
      '--name', name,
      '--label', `io.kubernetes.pod.name=${pod}`,
      '--label', 'io.kubernetes.pod.namespace=shop',
      '--label', 'io.kubernetes.container.name=app',
      '--label', `io.kubernetes.pod.uid=${podUid}`,
      '--label', 'io.kubernetes.docker.type=container',
      '-v', `${fifo}:/go`,
      DOCKER_IMAGE, 'sh', '-c', HOG_SCRIPT,
    ]);
    const cgroup = `/docker/${id}`;

    // Running: dockerd writes State.Pid after runc has started the container; readIdentity falls
    // back to the init.pid of dockerd's containerd task until then. Wait for a pid either way.
    const identity = await until(`readIdentity of ${cgroup} with a pid`, () => identityOf(cgroup, d.roots), (i) => i?.init_pid != null, { timeoutMs: 30_000 });
    assert.deepEqual({ ...identity, init_pid: null }, {
      runtime: 'docker', namespace: 'shop', pod, pod_uid: podUid, container: 'app', image: DOCKER_IMAGE, container_name: name, init_pid: null,
    });
    assert.ok(memoryCgroupPids(cgroup).includes(identity!.init_pid!), `init pid ${identity!.init_pid} is in ${cgroup}: ${memoryCgroupPids(cgroup).join(' ')}`);
    assert.equal(readFileSync(join(V1_MEMORY_MOUNT, cgroup, 'memory.limit_in_bytes'), 'utf8').trim(), String(LIMIT_BYTES));

    await go(fifo);
    const kill = await until(`the kernel's kill record for ${cgroup}`, () => kills.find((k) => k.victim_cgroup === cgroup), Boolean, { timeoutMs: 30_000 });
    assert.deepEqual(
      [kill!.process, kill!.scope, kill!.oom_cgroup, kill!.runtime, kill!.container_id, limitFired(kill!)],
      ['dd', 'cgroup', cgroup, 'docker', id, 'container'],
    );

    // --rm: dockerd removes the container when it ends; runc removes its cgroup.
    await until(`container ${id} removed`, async () => (await d.docker(['ps', '-aq', '--no-trunc'])).split('\n').includes(id) === false, Boolean, { timeoutMs: 30_000 });
    await until(`${cgroup} gone`, () => !existsSync(join(V1_MEMORY_MOUNT, cgroup)), Boolean, { timeoutMs: 30_000 });
    assert.equal(existsSync(join(d.dataRoot, 'containers', id)), false);
    assert.equal(identityOf(cgroup, d.roots), null);
  });
});

describe('containerd (standalone, CRI annotations, kubelet cgroupfs layout under the test prefix)', realRuntimes('containerd'), () => {
  let ctd: Containerd | undefined;
  before(async () => {
    ctd = await startContainerd();
  });
  after(async () => {
    await ctd?.stop();
  });

  test('readIdentity names the running task from its bundle; the OOM kill names its kubepods path; then both are gone', async (t) => {
    const c = ctd!;
    const podUid = randomUUID();
    const pod = `api-${randomBytes(4).toString('hex')}`;
    const id = hex64();
    const cgroup = c.cgroupPath('ctd', `kubepods/burstable/pod${podUid}/${id}`);
    const fifo = join(c.dir, `go-${pod}`);
    await makeFifo(fifo);
    const { kills, reader } = await watchKills();
    t.after(() => reader.stop());
    await c.ctr([
      'run', '-d', '--memory-limit', String(LIMIT_BYTES), '--cgroup', cgroup,
      '--mount', `type=bind,src=${fifo},dst=/go,options=rbind:rw`,
      '--annotation', 'io.kubernetes.cri.container-type=container',
      '--annotation', `io.kubernetes.cri.sandbox-id=${hex64()}`,
      '--annotation', `io.kubernetes.cri.sandbox-name=${pod}`,
      '--annotation', 'io.kubernetes.cri.sandbox-namespace=payments',
      '--annotation', `io.kubernetes.cri.sandbox-uid=${podUid}`,
      '--annotation', 'io.kubernetes.cri.container-name=server',
      '--annotation', `io.kubernetes.cri.image-name=${CONTAINERD_IMAGE}`,
      CONTAINERD_IMAGE, id, 'sh', '-c', HOG_SCRIPT,
    ]);
    const owner = resolveOwner(cgroup);
    assert.deepEqual([owner.container_id, owner.pod_uid, owner.pod_qos], [id, podUid, 'burstable']);
    const bundle = join(c.state, 'io.containerd.runtime.v2.task', 'k8s.io', id);

    const identity = await until(`readIdentity of ${cgroup} with a pid`, () => identityOf(cgroup, c.roots), (i) => i?.init_pid != null, { timeoutMs: 30_000 });
    assert.deepEqual({ ...identity, init_pid: null }, {
      runtime: 'containerd', namespace: 'payments', pod, pod_uid: podUid, container: 'server', image: CONTAINERD_IMAGE, container_name: null, init_pid: null,
    });
    assert.ok(memoryCgroupPids(cgroup).includes(identity!.init_pid!), `init pid ${identity!.init_pid} is in ${cgroup}: ${memoryCgroupPids(cgroup).join(' ')}`);

    await go(fifo);
    const kill = await until(`the kernel's kill record for ${cgroup}`, () => kills.find((k) => k.victim_cgroup === cgroup), Boolean, { timeoutMs: 30_000 });
    assert.deepEqual(
      [kill!.process, kill!.scope, kill!.oom_cgroup, kill!.container_id, kill!.pod_uid, limitFired(kill!)],
      ['dd', 'cgroup', cgroup, id, podUid, 'container'],
    );

    // The task ends with its init shell; kubelet (here the test) then deletes task and container.
    await until(`task ${id} stopped`, async () => /\bSTOPPED\b/.test(await c.ctr(['task', 'ls'])), Boolean, { timeoutMs: 30_000 });
    await c.ctr(['task', 'delete', id]);
    await c.ctr(['container', 'delete', id]);
    assert.equal(existsSync(bundle), false, `${bundle} is deleted with the task`);
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, cgroup)), false, `runc removes ${cgroup} with the task`);
    assert.equal(identityOf(cgroup, c.roots), null);
  });
});

describe('podman (containers/storage, cgroupfs manager, cgroup parent under the test prefix)', realRuntimes('podman'), () => {
  let pm: Podman | undefined;
  before(async () => {
    pm = await startPodman();
  });
  after(async () => {
    await pm?.stop();
  });

  test('readIdentity names the running container from containers/storage; the OOM kill names its libpod-<id> cgroup; then both are gone', async (t) => {
    const p = pm!;
    const name = `oomwatch-test-${randomBytes(4).toString('hex')}`;
    const parent = p.cgroupParent('pm');
    const fifo = join(p.dir, `go-${name}`);
    await makeFifo(fifo);
    const { kills, reader } = await watchKills();
    t.after(() => reader.stop());
    const id = await p.runDetached([
      '--rm', '--network', 'none', '--cgroup-parent', parent,
      '--memory', String(LIMIT_BYTES), '--memory-swap', String(LIMIT_BYTES),
      '--name', name, '-v', `${fifo}:/go`,
      PODMAN_IMAGE, 'sh', '-c', HOG_SCRIPT,
    ]);
    const cgroup = `${parent}/libpod-${id}`;
    assert.deepEqual([resolveOwner(cgroup).runtime, resolveOwner(cgroup).container_id], ['podman', id]);

    const identity = await until(`readIdentity of ${cgroup} with a pid`, () => identityOf(cgroup, p.roots), (i) => i?.init_pid != null, { timeoutMs: 30_000 });
    assert.deepEqual({ ...identity, init_pid: null }, {
      runtime: 'podman', namespace: null, pod: null, pod_uid: null, container: null, image: PODMAN_IMAGE, container_name: name, init_pid: null,
    });
    assert.ok(memoryCgroupPids(cgroup).includes(identity!.init_pid!), `init pid ${identity!.init_pid} is in ${cgroup}: ${memoryCgroupPids(cgroup).join(' ')}`);

    await go(fifo);
    const kill = await until(`the kernel's kill record for ${cgroup}`, () => kills.find((k) => k.victim_cgroup === cgroup), Boolean, { timeoutMs: 30_000 });
    assert.deepEqual(
      [kill!.process, kill!.scope, kill!.oom_cgroup, kill!.runtime, kill!.container_id, limitFired(kill!)],
      ['dd', 'cgroup', cgroup, 'podman', id, 'container'],
    );

    await until(`container ${id} removed`, async () => (await p.podman(['ps', '-aq', '--no-trunc'])).split('\n').includes(id) === false, Boolean, { timeoutMs: 30_000 });
    await until(`${cgroup} gone`, () => !existsSync(join(V1_MEMORY_MOUNT, cgroup)), Boolean, { timeoutMs: 30_000 });
    assert.equal(identityOf(cgroup, p.roots), null);
  });
});
