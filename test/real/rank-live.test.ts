/**
 * `oomwatch rank NAME` on a real v1 cgroup: exactly our processes, in the order the OOM killer
 * would choose them; then a real OOM in the same cgroup kills the process rank named first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realKernel } from '../helpers/privileged.js';
import { exited, makeV1Cgroup, spawnInCgroup } from '../helpers/v1cgroup.js';
import { until } from '../helpers/until.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'oomwatch');

interface Ranked {
  pid: number;
  rank: number | null;
  cgroup: string;
  rss_kb: number;
}

/** VmRSS of a process in KiB (0 when it has none yet), from /proc/PID/status. */
function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

test('rank lists exactly the cgroup subtree in OOM-killer order, and the kernel kills rank 1', realKernel(), async () => {
  const cg = makeV1Cgroup('rank', 96 * 1024 * 1024);
  try {
    // A holder of ~16M with oom_score_adj 1000: its badness (RSS + 1000/1000 of the limit) beats
    // anything that can fit beside it, a dd hog included. (Lowering adj below 0 needs
    // CAP_SYS_RESOURCE, which this machine's root lacks; raising it needs nothing.)
    const holder = spawnInCgroup(cg.dir, ['python3', '-c', 'import time; b = bytearray(16 << 20); time.sleep(60)']);
    const middle = spawnInCgroup(cg.dir, ['sleep', '60']);
    const plain = spawnInCgroup(cg.dir, ['sleep', '60']);
    // Ranked as they will be: the holder has touched its 16M, the shells have exec-ed sleep.
    await until(
      'the holder to hold 16M and the sleepers to run',
      () => [rssKb(holder.pid as number), comm(middle.pid as number), comm(plain.pid as number)] as const,
      ([rss, a, b]) => rss > 16 * 1024 && a === 'sleep' && b === 'sleep',
    );
    writeFileSync(`/proc/${holder.pid}/oom_score_adj`, '1000');
    writeFileSync(`/proc/${middle.pid}/oom_score_adj`, '300');
    const r = spawnSync(process.execPath, [BIN, 'rank', '--json', cg.name], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { cgroup: string; total_kb: number; processes: Ranked[] };
    assert.equal(out.cgroup, cg.kernelPath);
    assert.equal(out.total_kb, 96 * 1024);
    assert.deepEqual(
      out.processes.map((p) => [p.pid, p.rank, p.cgroup]),
      [
        [holder.pid, 1, cg.kernelPath],
        [middle.pid, 2, cg.kernelPath],
        [plain.pid, 3, cg.kernelPath],
      ],
    );
    assert.ok((out.processes[0]?.rss_kb ?? 0) > 16 * 1024);
    // Now the cgroup runs out: the kernel's first victim must be the one rank put first.
    const holderExit = exited(holder);
    spawnInCgroup(cg.dir, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1']);
    assert.equal((await holderExit).signal, 'SIGKILL');
  } finally {
    await cg.cleanup();
  }
});
