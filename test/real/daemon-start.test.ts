/**
 * What `oomwatch daemon` does when it must not run: its address is taken, or another daemon holds
 * its state directory. It exits at once, non-zero, with one line naming the cause, having read
 * and written nothing; a lock left by a daemon killed with SIGKILL blocks nothing.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty } from '../helpers/v1cgroup.js';
import { DaemonProcess, startDaemon, tempDir } from '../helpers/daemon.js';
import { BIN } from '../helpers/cli.js';

/** Run `oomwatch daemon` with these flags and wait (at most 15 s, then fail) for it to exit. */
async function refusedRun(args: string[]): Promise<{ code: number | null; d: DaemonProcess }> {
  const d = new DaemonProcess(spawn(process.execPath, [BIN, 'daemon', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the daemon still runs 15 s after it should have exited; logs: ${JSON.stringify(d.logs.slice(-5))}; stderr: ${d.stderr.join('\n')}`)), 15_000);
  });
  try {
    const r = await Promise.race([d.exited, timeout]);
    // Readline may deliver the last lines after the exit event.
    await new Promise<void>((resolve) => (d.child.stderr?.readableEnded ? resolve() : d.child.stderr?.once('end', () => resolve())));
    return { code: r.code, d };
  } finally {
    clearTimeout(timer);
    await d.stop('SIGKILL');
  }
}

describe('oomwatch daemon refuses to start', realKernel(), () => {
  const made: string[] = [];
  const dirs: { remove: () => void }[] = [];
  after(async () => {
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
    for (const t of dirs) t.remove();
  });

  test('on an address in use: exit 1 at once, one line naming the address, no state written, no declared cgroup created', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const t = tempDir('start-port');
    dirs.push(t);
    const name = uniqueTestName('start-port');
    made.push(join(V1_MEMORY_MOUNT, name));
    const config = join(t.dir, 'config.yml');
    writeFileSync(config, `cgroups:\n  - {name: ${name}, memory: 32M}\n`);
    const stateDir = join(t.dir, 'state');
    try {
      const { code, d } = await refusedRun(['--listen', `127.0.0.1:${port}`, '--state-dir', stateDir, '--config', config]);
      assert.equal(code, 1);
      assert.deepEqual(d.stderr, [`oomwatch: cannot listen on 127.0.0.1:${port}: the address is in use (another oomwatch daemon, or another server); stop what holds it or choose another address with --listen (or listen: in the config)`]);
      assert.deepEqual(d.logs, [], 'nothing started, nothing logged');
      assert.equal(existsSync(stateDir), false, 'the state directory was not created');
      assert.equal(existsSync(join(V1_MEMORY_MOUNT, name)), false, 'the declared cgroup was not created');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('on a state directory another daemon holds: exit 1 naming its pid; the running one keeps it and serves; after a SIGKILL the lock blocks nothing', async () => {
    const t = tempDir('start-lock');
    dirs.push(t);
    const first = await startDaemon({ stateDir: t.dir });
    try {
      const lock = readFileSync(join(t.dir, 'daemon.lock'), 'utf8');
      const { code, d } = await refusedRun(['--listen', '127.0.0.1:0', '--state-dir', t.dir]);
      assert.equal(code, 1);
      assert.equal(d.stderr.length, 1, d.stderr.join('\n'));
      assert.match(d.stderr[0]!, new RegExp(`^oomwatch: state directory ${t.dir} is in use by the oomwatch daemon with pid ${first.pid} `));
      assert.deepEqual(d.logs, []);
      assert.equal(readFileSync(join(t.dir, 'daemon.lock'), 'utf8'), lock, 'the running daemon\'s lock is untouched');
      assert.match(await first.scrape('/healthz'), /"status"/, 'the running daemon still serves');
    } finally {
      await first.stop('SIGKILL');
    }
    assert.ok(existsSync(join(t.dir, 'daemon.lock')), 'SIGKILL left the lock behind');
    const second = await startDaemon({ stateDir: t.dir });
    try {
      assert.match(readFileSync(join(t.dir, 'daemon.lock'), 'utf8'), new RegExp(`"pid":${second.pid},`));
    } finally {
      assert.equal((await second.stop()).code, 0);
    }
    assert.equal(existsSync(join(t.dir, 'daemon.lock')), false, 'a daemon stopped by SIGTERM gives the directory back');
  });
});
