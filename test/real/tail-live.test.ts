/**
 * `oomwatch tail` against the real kernel log: a real OOM kill in a v1 test cgroup is printed as it
 * happens (JSON and table), a kill report forged by root through /dev/kmsg is not, and SIGINT ends
 * it with status 0. Asserts only on our own pids and cgroup: other tests write to the same log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { realKernel } from '../helpers/privileged.js';
import { startTail } from '../helpers/tail.js';
import { HOG, exited, makeV1Cgroup, oomControl, spawnInCgroup, waitOutOomReportRateLimit } from '../helpers/v1cgroup.js';

/** Root writes one line to /dev/kmsg, opening it afresh (writes are rate-limited per open file). */
function forge(line: string): void {
  writeFileSync('/dev/kmsg', `${line}\n`);
}

test('tail prints a real OOM kill with the hog\'s pid and cgroup; a forged report is not a kill; SIGINT exits 0', realKernel(), async () => {
  const cg = makeV1Cgroup('tail', 64 * 1024 * 1024);
  const json = startTail(['--json']);
  const table = startTail([]);
  const forgedPid = 3_998_000 + (process.pid % 1000);
  try {
    await Promise.all([json.ready(), table.ready()]);
    // A complete forged report naming our cgroup, before the real kill: when tail has printed the
    // real one, it has read these (lower SEQ) too.
    forge(`forged invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0`);
    forge(`oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${cg.kernelPath},task_memcg=${cg.kernelPath},task=forged,pid=${forgedPid},uid=0`);
    forge(`<3>Memory cgroup out of memory: Killed process ${forgedPid} (forged) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0`);
    const pids: number[] = [];
    let pid = 0;
    let diedAtMs = 0;
    for (let attempt = 1; ; attempt++) {
      const hog = spawnInCgroup(cg.dir, HOG);
      const done = await exited(hog);
      diedAtMs = Date.now();
      assert.equal(done.signal, 'SIGKILL');
      pid = hog.pid as number;
      pids.push(pid);
      assert.equal(oomControl(cg.dir)['oom_kill'], attempt);
      // Every kill is printed, whatever else happens on the machine.
      await json.until(`the kill of pid ${pid}`, () => json.eventsFor(pid).length > 0);
      await table.until(`the row for pid ${pid}`, () => table.stdout.some((l) => l.split(/\s+/)[1] === String(pid)));
      // Other tests on this machine cause OOMs too: if the kernel's host-wide rate limit took this
      // kill's report (a header-less kill, still printed), try again after the window.
      if (json.eventsFor(pid)[0]?.constraint !== null || attempt === 4) break;
      await waitOutOomReportRateLimit();
    }

    const mine = json.eventsFor(pid);
    assert.equal(mine.length, 1);
    const e = mine[0]!;
    assert.equal(e.process, 'dd');
    assert.equal(e.scope, 'cgroup');
    assert.equal(e.constraint, 'CONSTRAINT_MEMCG');
    assert.equal(e.victim_cgroup, cg.kernelPath);
    assert.equal(e.oom_cgroup, cg.kernelPath);
    assert.equal(e.group_kill, false);
    assert.ok(e.seq !== null && e.kernel_time_us !== null);
    // kill_time is the kill's wall-clock time: within a second of when this test saw the hog die.
    const killMs = Date.parse(e.kill_time ?? '');
    assert.ok(Math.abs(killMs - diedAtMs) < 1000, `kill_time ${String(e.kill_time)}, hog seen dead at ${new Date(diedAtMs).toISOString()}`);
    assert.ok((e.anon_rss_kb ?? 0) > 32 * 1024, 'the hog held most of the 64M');
    assert.equal(json.eventsFor(forgedPid).length, 0, 'the forged report is no kill');
    assert.deepEqual(json.events.filter((x) => x.victim_cgroup === cg.kernelPath).map((x) => x.pid), [pid]);
    for (const p of pids) assert.equal(json.eventsFor(p).length, 1, `pid ${p} printed once`);

    // The table: its header, then our row with the pid, comm and cgroup.
    assert.match(table.stdout[0] ?? '', /^TIME +PID PROCESS/);
    const row = table.stdout.find((l) => l.split(/\s+/)[1] === String(pid)) ?? '';
    assert.match(row, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z +${pid} dd +cgroup .* ${cg.kernelPath}$`));
    assert.ok(!table.stdout.some((l) => l.includes(String(forgedPid))));

    const [j, t] = await Promise.all([json.stop('SIGINT'), table.stop('SIGTERM')]);
    assert.deepEqual(j, { code: 0, signal: null }, json.stderr.join('\n'));
    assert.deepEqual(t, { code: 0, signal: null }, table.stderr.join('\n'));
    // The summary counts the forged records as userspace's.
    assert.match(json.stderr.at(-1) ?? '', /^oomwatch tail: \d+ kills?; \d+ records \([1-9]\d* from userspace, ignored\)/);
  } finally {
    json.kill();
    table.kill();
    await cg.cleanup();
  }
});

test('tail without root: a clear error and exit 1', realKernel(), async (t) => {
  if (readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8').trim() !== '1') {
    if (process.env['CI'] === 'true') throw new Error('cannot run in CI: kernel.dmesg_restrict=0 lets unprivileged users read the kernel log');
    t.skip('kernel.dmesg_restrict=0: unprivileged users may read the kernel log here');
    return;
  }
  // As nobody (uid 65534): with kernel.dmesg_restrict=1 (checked above) /dev/kmsg needs CAP_SYSLOG,
  // so it refuses nobody.
  const tail = startTail(['--json'], { uid: 65534, gid: 65534 });
  try {
    const r = await tail.exited;
    assert.deepEqual(r, { code: 1, signal: null });
    assert.deepEqual(tail.stdout, []);
    assert.equal(tail.stderr.length, 1, tail.stderr.join('\n'));
    assert.match(tail.stderr[0] ?? '', /^oomwatch: \/dev\/kmsg: E(PERM|ACCES): reading the kernel log needs root or CAP_SYSLOG.*run as root/);
  } finally {
    tail.kill();
  }
});
