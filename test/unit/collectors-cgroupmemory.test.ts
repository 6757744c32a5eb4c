import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { V1CgroupSampler } from '../../src/cgroup/v1/sampler.js';
import { CgroupMemoryCollector } from '../../src/collectors/cgroupMemory.js';

test('a cgroup whose files cannot be parsed is reported once per streak of failed polls, not at every poll', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-cgmem-'));
  try {
    writeFileSync(join(dir, 'cgroup.procs'), '');
    writeFileSync(join(dir, 'memory.usage_in_bytes'), 'garbage\n');
    writeFileSync(join(dir, 'memory.limit_in_bytes'), '67108864\n');
    writeFileSync(join(dir, 'memory.max_usage_in_bytes'), '4096\n');
    writeFileSync(join(dir, 'memory.failcnt'), '0\n');
    writeFileSync(join(dir, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
    writeFileSync(join(dir, 'memory.stat'), 'total_inactive_file 0\n');
    const errors: string[] = [];
    const samples: number[] = [];
    const c = new CgroupMemoryCollector({ openSampler: (p, budget) => new V1CgroupSampler(p, dir, budget) }, new Registry(), {
      onSample: (_p, s) => void samples.push(s.current),
      onGone: (p) => assert.fail(`${p} gone`),
      onNotMemory: (p) => assert.fail(`${p} not memory`),
      onError: (p, e) => void errors.push(`${p}: ${String(e)}`),
    });
    c.add('/broken');
    for (let i = 0; i < 4; i++) c.update(i);
    assert.equal(errors.length, 1, 'four failed polls, one report');
    assert.match(errors[0]!, /^\/broken: .*memory\.usage_in_bytes/);
    writeFileSync(join(dir, 'memory.usage_in_bytes'), '8192\n');
    c.update(4);
    assert.deepEqual(samples, [8192]);
    writeFileSync(join(dir, 'memory.usage_in_bytes'), 'garbage again\n');
    c.update(5);
    c.update(6);
    assert.equal(errors.length, 2, 'a new streak after a good poll is reported again');
    c.remove('/broken');
    c.add('/broken');
    c.update(7);
    assert.equal(errors.length, 3, 'a cgroup removed and added again starts afresh');
    c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
