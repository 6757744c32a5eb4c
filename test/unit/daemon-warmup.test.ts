import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUpKillPath } from '../../src/oom/warmup.js';
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
