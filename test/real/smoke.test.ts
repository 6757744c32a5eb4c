import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realKernel } from '../helpers/privileged.js';
import { makeV1Cgroup, spawnInCgroup, exited, HOG, oomControl } from '../helpers/v1cgroup.js';

test('a hog in a 64M v1 cgroup is OOM-killed by the kernel (the helpers work)', realKernel(), async () => {
  const cg = makeV1Cgroup('smoke', 64 * 1024 * 1024);
  try {
    const r = await exited(spawnInCgroup(cg.dir, HOG));
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(oomControl(cg.dir)['oom_kill'], 1);
  } finally {
    await cg.cleanup();
  }
});
