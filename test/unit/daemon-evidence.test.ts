import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEvidence } from '../../src/daemon/evidence.js';

function tree() {
  const root = mkdtempSync(join(tmpdir(), 'oomwatch-evidence-'));
  const cg = join(root, 'cg');
  const proc = join(root, 'proc');
  mkdirSync(join(cg, 'child'), { recursive: true });
  writeFileSync(join(cg, 'memory.stat'), 'cache 4096\nrss 8192\ntotal_cache 1048576\ntotal_rss 52428800\ntotal_shmem 0\ntotal_inactive_file 4096\npgfault 7\n');
  writeFileSync(join(cg, 'cgroup.procs'), '10\n11\n');
  writeFileSync(join(cg, 'child', 'cgroup.procs'), '12\n13\n');
  const status = (pid: number, name: string, rssKb: number | null) =>
    `Name:\t${name}\nPid:\t${pid}\nUid:\t0\t0\t0\t0\n${rssKb === null ? '' : `VmRSS:\t${rssKb} kB\n`}`;
  for (const [pid, name, rss, adj] of [[10, 'sh', 900, 0], [11, 'leaker', 51200, 500], [12, 'worker', 2048, -100]] as const) {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'status'), status(pid, name, rss));
    writeFileSync(join(proc, String(pid), 'oom_score_adj'), `${adj}\n`);
  }
  // 13 exited between the listing and the read: skipped, no error.
  return { root, cg, proc };
}

test('evidence: memory.stat breakdown and the top processes by RSS of the cgroup and its descendants', () => {
  const { root, cg, proc } = tree();
  try {
    const e = readEvidence(cg, proc, 1, 2);
    assert.deepEqual(e.memory_stat, { total_rss: 52428800, total_shmem: 0, total_cache: 1048576, total_inactive_file: 4096 });
    assert.deepEqual(e.top_processes, [
      { pid: 11, name: 'leaker', rss_bytes: 51200 * 1024, oom_score_adj: 500 },
      { pid: 12, name: 'worker', rss_bytes: 2048 * 1024, oom_score_adj: -100 },
    ]);
    assert.equal(e.process_count, 3);
    assert.equal(e.evidence_error, null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('evidence of a cgroup that is gone says so, with nothing made up', () => {
  const { root, proc } = tree();
  try {
    const e = readEvidence(join(root, 'gone'), proc, 2);
    assert.equal(e.memory_stat, null);
    assert.deepEqual(e.top_processes, []);
    assert.match(e.evidence_error ?? '', /gone\/memory\.stat/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
