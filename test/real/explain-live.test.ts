/**
 * `oomwatch explain` on a real OOM kill caused here: a hog and a sleeping process share a 64M v1
 * test cgroup; the hog is killed. `dmesg -x` is read right after and given to explain on stdin,
 * which must tell the kill as the kernel reported it: the hog's pid, comm and cgroup, its own
 * cgroup's limit of 64M, anonymous memory as the largest part, and the sleeper as the next
 * candidate with fewer points. Asserts only on our own pids and cgroup: other tests write to the
 * same kernel log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realKernel } from '../helpers/privileged.js';
import { HOG, exited, makeV1Cgroup, spawnInCgroup, waitOutOomReportRateLimit } from '../helpers/v1cgroup.js';
import { BIN } from '../helpers/cli.js';
import { formatBytes } from '../../src/cgroup/size.js';
import { until } from '../helpers/until.js';
import type { Story } from '../../src/oom/story.js';

const M = 1024 * 1024;

function explain(input: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'explain', ...args, '-'], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('explain tells a real kill: pid, cgroup, its own 64M limit, anonymous memory first, the sleeper next', realKernel(), async () => {
  // A storm of another test's may still hold the kernel's report rate limit: our report must be whole.
  await waitOutOomReportRateLimit();
  const cg = makeV1Cgroup('explain', 64 * M);
  try {
    const sleeper = spawnInCgroup(cg.dir, ['sleep', '60']);
    await until('the sleeper in its cgroup', () => readFileSync(join(cg.dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(sleeper.pid)));
    const hog = spawnInCgroup(cg.dir, HOG);
    const done = await exited(hog);
    assert.equal(done.signal, 'SIGKILL');
    const dmesg = await until(
      "the hog's kill line in dmesg -x",
      () => spawnSync('dmesg', ['-x'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout,
      (t) => t.includes(`Killed process ${hog.pid} `),
    );
    sleeper.kill('SIGKILL');
    await exited(sleeper);

    const json = explain(dmesg, '--json', '--pid', String(hog.pid));
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout) as Story;
    assert.equal(s.pid, hog.pid);
    assert.equal(s.process, 'dd');
    assert.equal(s.victim_cgroup, cg.kernelPath);
    assert.equal(s.limit.oom_cgroup, cg.kernelPath);
    assert.equal(s.limit.fired, 'own');
    assert.equal(s.limit.cgroup_version, 1);
    assert.equal(s.limit.memory?.limit_bytes, 64 * M);
    // The charge that failed did not fit: usage + that charge > limit. An anonymous fault charges
    // one page, or 2 MiB for a transparent huge page, so usage is within 2 MiB below the limit.
    const usage = s.limit.memory?.usage_bytes ?? 0;
    assert.ok(usage <= 64 * M && usage > 62 * M, `usage at the OOM within 2M below the 64M limit: ${usage}`);
    assert.equal(s.composition?.source, 'cgroup-v1');
    assert.equal(s.composition?.parts[0]?.kind, 'anon');
    assert.ok((s.composition?.parts[0]?.share ?? 0) > 0.5, 'the hog held most of the 64M');
    assert.equal(s.candidates?.victim_rank, 0);
    assert.equal(s.candidates?.next?.pid, sleeper.pid);
    assert.ok((s.candidates?.ratio_to_next ?? 0) > 10, `the hog had many times the sleeper's points: ${s.candidates?.ratio_to_next}`);
    assert.ok(s.advice.some((a) => a.kind === 'raise_limit' && a.text.includes(cg.kernelPath)));

    const text = explain(dmesg, '--pid', String(hog.pid));
    assert.equal(text.status, 0, text.stderr);
    assert.doesNotMatch(text.stdout, /undefined|NaN|null/);
    assert.match(text.stdout, new RegExp(`^The kernel's OOM killer killed pid ${hog.pid} "dd" \\(uid 0\\)`));
    const usageLine = /Usage (\S+) of a 64\.0M limit \((\d+\.\d)%\) at the OOM/.exec(text.stdout);
    assert.ok(usageLine !== null, 'the usage line');
    assert.equal(usageLine[1], formatBytes(usage));
    assert.equal(usageLine[2], ((usage / (64 * M)) * 100).toFixed(1));
    assert.match(text.stdout, new RegExp(`the next, pid ${sleeper.pid} "sleep"`));
  } finally {
    await cg.cleanup();
  }
});
