/**
 * `oomwatch tail --cursor FILE` on the real kernel log: a kill that happened while tail was not
 * running is printed at its next start, and not again after another restart. Asserts only on our
 * own pids: other tests write to the same log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCursor } from '../../src/kmsg/cursor.js';
import { realKernel } from '../helpers/privileged.js';
import { startTail, type TailProcess } from '../helpers/tail.js';
import { HOG, exited, makeV1Cgroup, spawnInCgroup, type TestCgroup } from '../helpers/v1cgroup.js';

async function oomKill(cg: TestCgroup): Promise<number> {
  const hog = spawnInCgroup(cg.dir, HOG);
  const done = await exited(hog);
  assert.equal(done.signal, 'SIGKILL', 'the hog was OOM-killed');
  return hog.pid as number;
}

async function stopOk(tail: TailProcess): Promise<void> {
  assert.deepEqual(await tail.stop('SIGTERM'), { code: 0, signal: null }, tail.stderr.join('\n'));
}

test('tail --cursor: a kill while tail was down is printed at the next start, and never twice', realKernel(), async () => {
  const cg = makeV1Cgroup('tailcur', 64 * 1024 * 1024);
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-tail-'));
  const cursorFile = join(dir, 'tail.cursor');
  const tails: TailProcess[] = [];
  const start = (): TailProcess => {
    const t = startTail(['--json', '--cursor', cursorFile]);
    tails.push(t);
    return t;
  };
  try {
    // 1. No cursor file yet: from the end; at SIGTERM the position is saved.
    const first = start();
    await first.ready();
    assert.ok(first.stderr.some((l) => l === 'oomwatch tail: following /dev/kmsg from its end'));
    await stopOk(first);
    const saved = parseCursor(readFileSync(cursorFile, 'utf8'), cursorFile);
    assert.equal(saved.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());

    // 2. A kill while no tail runs.
    const whileDown = await oomKill(cg);

    // 3. The next start resumes after the cursor and prints it, once.
    const second = start();
    await second.ready();
    assert.ok(second.stderr.some((l) => l.startsWith(`oomwatch tail: following /dev/kmsg after record ${saved.seq} `)));
    await second.until(`the kill of pid ${whileDown}`, () => second.eventsFor(whileDown).length > 0);
    const e = second.eventsFor(whileDown);
    assert.equal(e.length, 1);
    // (Its cgroup is asserted by tail-live: here, if other tests' OOMs made the kernel rate-limit
    // this report's header, the kill comes without it; the pid is what identifies it.)
    assert.equal(e[0]?.process, 'dd');
    assert.ok((e[0]?.seq ?? -1) > saved.seq, 'the kill came after the saved cursor');
    await stopOk(second);
    const saved2 = parseCursor(readFileSync(cursorFile, 'utf8'), cursorFile);
    assert.ok(saved2.seq >= (e[0]?.seq ?? Infinity), 'the cursor moved past the printed kill');

    // 4. Another restart: the old kill is not printed again. A new kill proves this tail read
    //    the log up to and past everything before it.
    const third = start();
    await third.ready();
    const fresh = await oomKill(cg);
    await third.until(`the kill of pid ${fresh}`, () => third.eventsFor(fresh).length > 0);
    await stopOk(third);
    assert.equal(third.eventsFor(whileDown).length, 0, 'the kill printed before the restart came again');
    assert.equal(third.eventsFor(fresh).length, 1);
  } finally {
    for (const t of tails) t.kill();
    await cg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
