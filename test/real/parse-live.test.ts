/**
 * `oomwatch parse` over a live capture of a real OOM kill caused here: a raw /dev/kmsg reader runs
 * while a hog (an executable whose name has spaces, parentheses and a comma) is OOM-killed in a
 * 64M v1 test cgroup; a forged kill line written by root at the same time must not be reported.
 * Asserts only on our own pid and cgroup: other tests write to the same kernel log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { isErrno } from '../../src/errors.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realKernel } from '../helpers/privileged.js';
import { exited, makeV1Cgroup, oomControl, spawnInCgroup } from '../helpers/v1cgroup.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { until } from '../helpers/until.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'oomwatch');

/**
 * A raw /dev/kmsg reader for the test: a non-blocking fd drained every 5 ms (EAGAIN when nothing is
 * new; latency about the period; a read stream would hold a thread blocked in read() and fs.watch
 * never fires for kernel records), one record per read into an 8 KiB buffer. EPIPE (other tests
 * flooding the log overran us) is counted and reading goes on, where `cat /dev/kmsg` would stop.
 */
function startReader(): { text: () => string; overruns: () => number; stop: () => void } {
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(8192);
  const parts: string[] = [];
  let overruns = 0;
  const drain = (): void => {
    for (;;) {
      try {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) return;
        parts.push(buf.toString('utf8', 0, n));
      } catch (err) {
        if (isErrno(err, 'EAGAIN')) return;
        if (isErrno(err, 'EPIPE')) {
          overruns++;
          continue;
        }
        throw err;
      }
    }
  };
  const timer = setInterval(drain, 5);
  return {
    text: () => {
      drain();
      return parts.join('');
    },
    overruns: () => overruns,
    stop: () => {
      clearInterval(timer);
      closeSync(fd);
    },
  };
}

function parse(input: string, ...args: string[]): { events: OomKillEvent[]; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [BIN, 'parse', '--json', ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return {
    events: r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as OomKillEvent),
    stderr: r.stderr,
    status: r.status,
  };
}

test('parse finds a real OOM kill in raw /dev/kmsg records and in dmesg -x, with pid, comm and cgroup', realKernel(), async () => {
  const cg = makeV1Cgroup('parse', 64 * 1024 * 1024);
  const bin = mkdtempSync(join(tmpdir(), 'oomwatch-parse-'));
  const comm = 'oomw (p),x';
  const exe = join(bin, comm);
  copyFileSync('/bin/dd', exe);
  const reader = startReader();
  const forgedPid = 3_999_000 + (process.pid % 1000);
  try {
    const hog = spawnInCgroup(cg.dir, [exe, 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1']);
    const done = await exited(hog);
    assert.equal(done.signal, 'SIGKILL');
    // dmesg right away, before other tests' lines can push ours out of the 128 KiB buffer.
    const dmesg = spawnSync('dmesg', ['-x'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    // Root forges a kill line (a fresh open per write: /dev/kmsg writes are rate-limited per file).
    writeFileSync('/dev/kmsg', `Memory cgroup out of memory: Killed process ${forgedPid} (forged) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n`);
    // The forged line comes after the kill's records: once the reader has it, it has them too.
    await until('the reader to read the kill and the forged line', () => reader.text(), (t) => t.includes(`Killed process ${hog.pid} `) && t.includes(`Killed process ${forgedPid} `));
    assert.equal(oomControl(cg.dir)['oom_kill'], 1);
    const raw = reader.text();

    const fromRaw = parse(raw);
    assert.equal(fromRaw.status, 0, fromRaw.stderr);
    const mine = fromRaw.events.filter((e) => e.pid === hog.pid);
    assert.equal(mine.length, 1, `one event for pid ${hog.pid}`);
    const e = mine[0] as OomKillEvent;
    assert.equal(e.process, comm);
    assert.equal(e.victim_cgroup, cg.kernelPath);
    assert.equal(e.oom_cgroup, cg.kernelPath);
    assert.equal(e.scope, 'cgroup');
    assert.equal(e.constraint, 'CONSTRAINT_MEMCG');
    assert.equal(e.trigger_process, comm);
    assert.equal(e.group_kill, false);
    assert.ok(e.seq !== null && e.kernel_time_us !== null);
    assert.ok((e.anon_rss_kb ?? 0) > 32 * 1024, 'the hog held most of the 64M');
    assert.equal(fromRaw.events.filter((x) => x.pid === forgedPid).length, 0, 'the forged line is not a kill');
    assert.match(fromRaw.stderr, /[1-9]\d* foreign records? ignored/);

    const fromDmesg = parse(dmesg.stdout);
    const d = fromDmesg.events.filter((x) => x.pid === hog.pid);
    assert.equal(d.length, 1);
    assert.equal(d[0]?.victim_cgroup, cg.kernelPath);
    assert.equal(d[0]?.kernel_time_us, e.kernel_time_us);
  } finally {
    reader.stop();
    await cg.cleanup();
    rmSync(bin, { recursive: true, force: true });
  }
});
