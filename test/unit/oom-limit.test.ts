/** Which limit fired (src/oom/limit.ts), from the OOM cgroup and the victim's cgroup of real path layouts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitFired, type LimitInput } from '../../src/oom/limit.js';

const ID = '774aa63a0c9c4ccca35386e12546d86a201f996dafc0df6be368993f8a13c897';
const POD_SD = '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2b3c4d5e_6f70_4819_a2b3_c4d5e6f70819.slice';
const CTR_SD = `${POD_SD}/cri-containerd-${ID}.scope`;
const POD_FS = '/kubepods/burstable/pod2b3c4d5e-6f70-4819-a2b3-c4d5e6f70819';
const CTR_FS = `${POD_FS}/${ID}`;
const memcg = (oom: string | null, victim: string | null): LimitInput => ({ scope: 'cgroup', oom_cgroup: oom, victim_cgroup: victim });

test('Kubernetes: the container, the pod, the node allocatable, a QoS class cgroup', () => {
  for (const [pod, ctr, kubepods, qos] of [[POD_SD, CTR_SD, '/kubepods.slice', '/kubepods.slice/kubepods-burstable.slice'], [POD_FS, CTR_FS, '/kubepods', '/kubepods/burstable']] as const) {
    assert.equal(limitFired(memcg(ctr, ctr)), 'container');
    assert.equal(limitFired(memcg(ctr, `${ctr}/inner`)), 'container', "a cgroup the container made below its own: the container's limit");
    assert.equal(limitFired(memcg(pod, ctr)), 'pod');
    assert.equal(limitFired(memcg(kubepods, ctr)), 'node');
    assert.equal(limitFired(memcg(qos, ctr)), 'ancestor');
  }
  assert.equal(limitFired(memcg(`/oomwatch-test/x${POD_SD}`, `/oomwatch-test/x${CTR_SD}`)), 'pod', 'below a prefix (kind, a test tree)');
  assert.equal(limitFired(memcg(`/oomwatch-test/x/kubepods.slice`, `/oomwatch-test/x${CTR_SD}`)), 'node');
});

test('outside Kubernetes: a docker container, the own cgroup, an ancestor; a system OOM; unknown', () => {
  assert.equal(limitFired(memcg(`/docker/${ID}`, `/docker/${ID}`)), 'container');
  assert.equal(limitFired(memcg(`/system.slice/docker-${ID}.scope`, `/system.slice/docker-${ID}.scope`)), 'container');
  assert.equal(limitFired(memcg('/system.slice', `/system.slice/docker-${ID}.scope`)), 'ancestor');
  assert.equal(limitFired(memcg('/batch/worker-1', '/batch/worker-1/')), 'own');
  assert.equal(limitFired(memcg('/batch', '/batch/worker-1')), 'ancestor');
  assert.equal(limitFired({ scope: 'system', oom_cgroup: null, victim_cgroup: CTR_SD }), 'none');
  assert.equal(limitFired(memcg(null, null)), null, 'a header-less kill line: the report does not tell');
  assert.equal(limitFired(memcg('/batch', null)), null);
});
