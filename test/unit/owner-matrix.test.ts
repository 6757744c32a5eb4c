import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveOwner, type CgroupOwner, type PodQos } from '../../src/oom/owner.js';

const UID = '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90';
const UID_ = UID.replace(/-/g, '_');
const ID = '3b1f0e9c8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c';
const ID2 = '9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';

const owner = (o: Partial<CgroupOwner>): CgroupOwner => ({
  unit: null, runtime: null, container_id: null, pod_uid: null, pod_qos: null, ...o,
});

/** kubelet's two cgroup drivers × three QoS classes, the pod cgroup and a container in it. */
const QOS: readonly PodQos[] = ['guaranteed', 'burstable', 'besteffort'];
function systemdPod(qos: PodQos): string {
  return qos === 'guaranteed'
    ? `/kubepods.slice/kubepods-pod${UID_}.slice`
    : `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${UID_}.slice`;
}
function cgroupfsPod(qos: PodQos): string {
  return qos === 'guaranteed' ? `/kubepods/pod${UID}` : `/kubepods/${qos}/pod${UID}`;
}

for (const qos of QOS) {
  test(`kubelet systemd driver, ${qos}: pod slice and cri-containerd/crio/docker scopes`, () => {
    assert.deepEqual(resolveOwner(systemdPod(qos)), owner({ pod_uid: UID, pod_qos: qos }));
    assert.deepEqual(
      resolveOwner(`${systemdPod(qos)}/cri-containerd-${ID}.scope`),
      owner({ unit: `cri-containerd-${ID}.scope`, runtime: 'containerd', container_id: ID, pod_uid: UID, pod_qos: qos }),
    );
    assert.deepEqual(
      resolveOwner(`${systemdPod(qos)}/crio-${ID}.scope`),
      owner({ unit: `crio-${ID}.scope`, runtime: 'crio', container_id: ID, pod_uid: UID, pod_qos: qos }),
    );
    assert.deepEqual(
      resolveOwner(`${systemdPod(qos)}/docker-${ID}.scope`),
      owner({ unit: `docker-${ID}.scope`, runtime: 'docker', container_id: ID, pod_uid: UID, pod_qos: qos }),
    );
  });

  test(`kubelet cgroupfs driver, ${qos}: pod directory and a container id below it`, () => {
    assert.deepEqual(resolveOwner(cgroupfsPod(qos)), owner({ pod_uid: UID, pod_qos: qos }));
    assert.deepEqual(resolveOwner(`${cgroupfsPod(qos)}/${ID}`), owner({ container_id: ID, pod_uid: UID, pod_qos: qos }));
    assert.deepEqual(
      resolveOwner(`${cgroupfsPod(qos)}/crio-${ID}`),
      owner({ runtime: 'crio', container_id: ID, pod_uid: UID, pod_qos: qos }),
    );
  });
}

test('pod UIDs come out canonical: dashes, lower case', () => {
  const upper = UID_.toUpperCase();
  assert.equal(resolveOwner(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${upper}.slice`).pod_uid, UID);
});

test('docker, both forms', () => {
  assert.deepEqual(resolveOwner(`/docker/${ID}`), owner({ runtime: 'docker', container_id: ID }));
  assert.deepEqual(
    resolveOwner(`/system.slice/docker-${ID}.scope`),
    owner({ unit: `docker-${ID}.scope`, runtime: 'docker', container_id: ID }),
  );
});

test('podman (libpod), both forms; conmon is not the container', () => {
  assert.deepEqual(
    resolveOwner(`/machine.slice/libpod-${ID}.scope`),
    owner({ unit: `libpod-${ID}.scope`, runtime: 'podman', container_id: ID }),
  );
  assert.deepEqual(resolveOwner(`/libpod_parent/libpod-${ID}`), owner({ runtime: 'podman', container_id: ID }));
  assert.deepEqual(
    resolveOwner(`/machine.slice/libpod-conmon-${ID}.scope`),
    owner({ unit: `libpod-conmon-${ID}.scope` }),
  );
  assert.equal(resolveOwner(`${systemdPod('burstable')}/crio-conmon-${ID}.scope`).container_id, null);
});

test('a runtime that wrote the systemd-style cgroupsPath as a directory name', () => {
  assert.deepEqual(
    resolveOwner(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`),
    owner({ runtime: 'containerd', container_id: ID, pod_uid: UID, pod_qos: 'burstable' }),
  );
});

test('systemd units: the innermost service or scope', () => {
  assert.deepEqual(resolveOwner('/system.slice/foo.service'), owner({ unit: 'foo.service' }));
  assert.deepEqual(
    resolveOwner('/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope'),
    owner({ unit: 'app-gnome-firefox-1234.scope' }),
  );
  assert.deepEqual(resolveOwner('/system.slice'), owner({}));
  assert.deepEqual(resolveOwner('/'), owner({}));
  assert.deepEqual(resolveOwner(null), owner({}));
});

test('nested prefixes: a node in LXC, a kind node in docker, docker in docker, our capture prefix', () => {
  assert.deepEqual(
    resolveOwner(`/lxc.payload.node1${systemdPod('besteffort')}/cri-containerd-${ID}.scope`),
    owner({ unit: `cri-containerd-${ID}.scope`, runtime: 'containerd', container_id: ID, pod_uid: UID, pod_qos: 'besteffort' }),
  );
  // kind: the node is itself a docker container; the workload is the inner pod's container.
  assert.deepEqual(
    resolveOwner(`/docker/${ID2}/kubepods/burstable/pod${UID}/${ID}`),
    owner({ container_id: ID, pod_uid: UID, pod_qos: 'burstable' }),
  );
  assert.deepEqual(resolveOwner(`/docker/${ID2}/kubepods/burstable/pod${UID}`), owner({ pod_uid: UID, pod_qos: 'burstable' }));
  assert.deepEqual(resolveOwner(`/docker/${ID2}/docker/${ID}`), owner({ runtime: 'docker', container_id: ID }));
  assert.deepEqual(
    resolveOwner(`/oomwatch-capture/kubepods/besteffort/pod7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/${ID2}`),
    owner({ container_id: ID2, pod_uid: '7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f', pod_qos: 'besteffort' }),
  );
});

test('look-alikes are not owners', () => {
  assert.deepEqual(resolveOwner('/kubepods/burstable/podnot-a-uid'), owner({}));
  assert.deepEqual(resolveOwner(`/somewhere/pod${UID}`), owner({}), 'a pod directory not under kubepods or a QoS');
  assert.deepEqual(resolveOwner(`/somewhere/${ID}`), owner({}), 'a bare id that is not under a pod or docker');
  assert.deepEqual(resolveOwner('/system.slice/docker-xyz.scope'), owner({ unit: 'docker-xyz.scope' }));
});
