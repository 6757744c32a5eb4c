import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WARM_UP_CGROUPS, warmUpKillPath } from '../../src/oom/warmup.js';
import { resolveOwner } from '../../src/oom/owner.js';
import { KillLedger } from '../../src/daemon/ledger.js';

const CG = '/kubepods/besteffort/pod7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';

test('the warm-up report yields exactly its one kill, named and owned, and the ledger exports it by kmsg', () => {
  const kills = warmUpKillPath();
  assert.equal(kills.length, 1, 'the made-up report yields one kill');
  const k = kills[0]!;
  assert.equal(k.pid, 5961);
  assert.equal(k.process, 'dd');
  assert.equal(k.victim_cgroup, CG);
  assert.equal(k.oom_cgroup, CG);
  assert.equal(k.scope, 'cgroup');
  assert.equal(k.pod_uid, '7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f', 'owner resolution ran');
  assert.equal(k.trigger_process, 'dd', 'the report header was parsed');
  assert.equal(k.anon_rss_kb, 65280);
  assert.equal(k.seq, 14);
  const out = new KillLedger(1000).onKill(k, 0);
  assert.deepEqual(out, [{ kind: 'kill', event: k, attributedBy: 'kmsg' }]);
});

test('the warm-up goes through every cgroup layout owner resolution knows, one a round', () => {
  const runtimes = new Set<string | null>();
  const podDrivers = new Set<string>();
  for (const [round, cg] of WARM_UP_CGROUPS.entries()) {
    const kills = warmUpKillPath(round);
    assert.equal(kills.length, 1, cg);
    const k = kills[0]!;
    assert.equal(k.victim_cgroup, cg);
    const owner = resolveOwner(cg);
    assert.equal(k.container_id, owner.container_id, cg);
    assert.equal(k.pod_uid, owner.pod_uid, cg);
    runtimes.add(owner.runtime);
    if (owner.pod_uid !== null) podDrivers.add(cg.includes('.slice') ? 'systemd' : 'cgroupfs');
    if (owner.container_id === null) assert.ok(owner.unit !== null, `${cg}: a layout that names nothing`);
  }
  assert.deepEqual([...runtimes].sort(), [null, 'containerd', 'crio', 'docker', 'podman'].sort(), 'each runtime, and a container under a pod without one');
  assert.deepEqual([...podDrivers].sort(), ['cgroupfs', 'systemd'], "kubelet's two cgroup drivers");
  assert.equal(warmUpKillPath(WARM_UP_CGROUPS.length)[0]!.victim_cgroup, WARM_UP_CGROUPS[0], 'rounds go round');
});
