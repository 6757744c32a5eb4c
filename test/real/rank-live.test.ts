/**
 * `oomwatch rank` against the real kernel: the badness it computes is the kernel's own (its
 * prediction of /proc/<pid>/oom_score matches the kernel's to the point), and the process it puts
 * first is the one a real OOM kills, read from the kernel's own `Killed process` record: in a
 * cgroup with a limit of its own, and in a cgroup whose parent's limit fires first, where the
 * victim lives in a sibling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realKernel } from '../helpers/privileged.js';
import { exited, makeV1Cgroup, oomControl, spawnInCgroup, waitOutOomReportRateLimit, type TestCgroup } from '../helpers/v1cgroup.js';
import { until } from '../helpers/until.js';
import { openKmsgReader } from '../../src/kmsg/reader.js';
import type { KmsgRecord } from '../../src/kmsg/record.js';
import { DEFAULT_ROOTS } from '../../src/roots.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'oomwatch');
const MiB = 1024 * 1024;

interface Ranked {
  pid: number;
  rank: number | null;
  rank_by_size: number | null;
  badness_pages: number | null;
  cgroup: string;
  system_oom_score: number;
}
interface RankJson {
  scope: string;
  oom_cgroup: string | null;
  total_pages: number;
  processes: Ranked[];
}

function rank(...args: string[]): RankJson {
  const r = spawnSync(process.execPath, [BIN, 'rank', '--json', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RankJson;
}

/** VmRSS of a process in KiB (0 when it has none yet), from /proc/PID/status. */
function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** A python3 that fills `mib` MiB (every page written) and sleeps, started inside `dir`. */
function holder(dir: string, mib: number): ChildProcess {
  return spawnInCgroup(dir, ['python3', '-c', `import time; b = b'x' * (${mib} << 20); time.sleep(120)`]);
}

/**
 * The three processes both tests rank: `big` (40M, adj 0), `medium` (16M, adj 600), `small`
 * (sleep, adj 300). By size: big, medium, small; with adj against a 96M limit (24 pages per unit
 * of adj): medium (≈ 6000 + 14400 pages) before big (≈ 12000), then small (≈ 200 + 7200).
 * oom_score_adj is only raised: lowering it below 0 needs CAP_SYS_RESOURCE, which this
 * machine's root lacks.
 */
async function threeProcesses(bigDir: string, mediumDir: string, smallDir: string): Promise<{ big: ChildProcess; medium: ChildProcess; small: ChildProcess }> {
  const big = holder(bigDir, 40);
  const medium = holder(mediumDir, 16);
  const small = spawnInCgroup(smallDir, ['sleep', '120']);
  await until(
    'the holders to fill their memory and sleep to run',
    () => [rssKb(big.pid as number), rssKb(medium.pid as number), readFileSync(`/proc/${small.pid}/comm`, 'utf8').trim()] as const,
    ([b, m, s]) => b > 40 * 1024 && m > 16 * 1024 && s === 'sleep',
  );
  writeFileSync(`/proc/${medium.pid}/oom_score_adj`, '600');
  writeFileSync(`/proc/${small.pid}/oom_score_adj`, '300');
  return { big, medium, small };
}

/** The kernel's records (facility 0) from now on. */
async function kernelLog(t: { after: (fn: () => void | Promise<void>) => void }): Promise<() => KmsgRecord[]> {
  const records: KmsgRecord[] = [];
  const reader = await openKmsgReader({
    roots: DEFAULT_ROOTS,
    from: 'end',
    onEvents: (events) => {
      for (const e of events) if (e.type === 'record' && e.record.facility === 0) records.push(e.record);
    },
  });
  t.after(() => reader.stop());
  return () => records;
}

/** The pid of the first `Killed process N` among `pids`, once the kernel has logged it. */
async function firstVictim(records: () => KmsgRecord[], pids: readonly number[]): Promise<{ pid: number; record: KmsgRecord }> {
  const found = await until(
    'the kernel to log a kill of one of our processes',
    () => {
      for (const r of records()) {
        const m = /Killed process (\d+) /.exec(r.message);
        if (m !== null && pids.includes(Number(m[1]))) return { pid: Number(m[1]), record: r };
      }
      return undefined;
    },
    (v) => v !== undefined,
    { timeoutMs: 20_000 },
  );
  return found as { pid: number; record: KmsgRecord };
}

/** /proc/<pid>/oom_score from a badness (fs/proc/base.c proc_oom_score, 5.9+): C's truncating division. */
const oomScoreOf = (badness: number, totalPages: number): number => Math.trunc(((1000 + Math.trunc((badness * 1000) / totalPages)) * 2) / 3);

async function endStorm(cgs: TestCgroup[], dirs: string[]): Promise<void> {
  // More than one kill (the hog itself, once the first victim's memory is gone): wait out the
  // kernel's rate limit on reports so the next test's kill comes with its report.
  const kills = dirs.reduce((n, d) => n + (oomControl(d)['oom_kill'] ?? 0), 0);
  for (const cg of cgs) await cg.cleanup();
  if (kills > 1) await waitOutOomReportRateLimit();
}

test('rank NAME on a cgroup with its own limit: oom_score_adj moves the order, and the kernel kills rank 1', realKernel(), async (t) => {
  const cg = makeV1Cgroup('rank', 96 * MiB);
  try {
    const { big, medium, small } = await threeProcesses(cg.dir, cg.dir, cg.dir);
    const out = rank(cg.name);
    assert.deepEqual([out.scope, out.oom_cgroup, out.total_pages], ['cgroup', cg.kernelPath, 24576]);
    assert.deepEqual(
      out.processes.map((p) => [p.pid, p.rank, p.rank_by_size, p.cgroup]),
      [
        [medium.pid, 1, 2, cg.kernelPath],
        [big.pid, 2, 1, cg.kernelPath],
        [small.pid, 3, 3, cg.kernelPath],
      ],
    );
    // The same badness against RAM + swap is what the kernel prints as oom_score: rank's
    // computation (pages, adj × (total / 1000)) reproduces the kernel's number for each process.
    const host = rank();
    for (const pid of [big.pid, medium.pid, small.pid]) {
      const p = host.processes.find((x) => x.pid === pid);
      assert.ok(p !== undefined && p.badness_pages !== null, `pid ${pid} in the host's list`);
      assert.equal(oomScoreOf(p.badness_pages, host.total_pages), p.system_oom_score, `pid ${pid}: badness ${p.badness_pages} of ${host.total_pages} pages`);
    }
    // Now the cgroup runs out: a 32M dd does not fit beside the ≈ 75M held.
    const records = await kernelLog(t);
    const mediumExit = exited(medium);
    spawnInCgroup(cg.dir, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=32M', 'count=1']);
    const victim = await firstVictim(records, [big.pid as number, medium.pid as number, small.pid as number]);
    assert.equal(victim.pid, medium.pid, `the kernel's first victim is rank 1: ${victim.record.message}`);
    assert.equal((await mediumExit).signal, 'SIGKILL');
    assert.ok(records().some((r) => r.message.includes(`oom_memcg=${cg.kernelPath},task_memcg=${cg.kernelPath},`)), 'a memcg OOM of this cgroup');
  } finally {
    await endStorm([cg], [cg.dir]);
  }
});

test('rank NAME under a parent whose limit fires first: the parent\'s subtree is ranked, and the kernel kills its rank 1 in a sibling', realKernel(), async (t) => {
  // parent: 96M. a: 512M of its own (the looser limit, and far more room); b: none. The
  // processes: small in a, big and medium in b.
  const parent = makeV1Cgroup('rank-parent', 96 * MiB);
  const a = join(parent.dir, 'a');
  const b = join(parent.dir, 'b');
  mkdirSync(a);
  mkdirSync(b);
  writeFileSync(join(a, 'memory.limit_in_bytes'), String(512 * MiB));
  try {
    const { big, medium, small } = await threeProcesses(b, b, a);
    const out = rank(`${parent.name}/a`);
    assert.deepEqual([out.scope, out.oom_cgroup, out.total_pages], ['cgroup', parent.kernelPath, 24576], 'the parent\'s limit, not a\'s');
    assert.deepEqual(
      out.processes.map((p) => [p.pid, p.rank, p.cgroup]),
      [
        [medium.pid, 1, `${parent.kernelPath}/b`],
        [big.pid, 2, `${parent.kernelPath}/b`],
        [small.pid, 3, `${parent.kernelPath}/a`],
      ],
    );
    // a grows: the charge passes the parent's limit, and the parent's OOM kills in b.
    const records = await kernelLog(t);
    spawnInCgroup(a, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=32M', 'count=1']);
    const victim = await firstVictim(records, [big.pid as number, medium.pid as number, small.pid as number]);
    assert.equal(victim.pid, medium.pid, `the kernel's first victim is rank 1: ${victim.record.message}`);
    assert.ok(
      records().some((r) => r.message.includes(`oom_memcg=${parent.kernelPath},task_memcg=${parent.kernelPath}/b,`)),
      'the OOM is the parent\'s, the victim in b',
    );
  } finally {
    await endStorm([parent], [a, b, parent.dir]);
  }
});
