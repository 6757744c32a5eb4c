/**
 * Helpers for the guest suite (test/vm/suite/*.test.ts): these tests run only inside the qemu VM
 * that test/vm/run boots, on a real kernel with a pure cgroup2 hierarchy at /sys/fs/cgroup
 * (Documentation/admin-guide/cgroup-v2.rst). The VM is thrown away after the run, but tests share
 * it while it runs, so each test uses cgroup names of its own and removes them.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import {
  closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The cgroup2 mount inside the guest. */
export const CGROUP2 = '/sys/fs/cgroup';

/** The executable under test: `bin/oomwatch` of the checkout packed into the guest. */
export const OOMWATCH_BIN = fileURLToPath(new URL('../../../bin/oomwatch', import.meta.url));

/** Options for a guest `test()`: skipped outside the VM (/init sets OOMWATCH_VM=1). */
export function guest(): { skip?: string } {
  return process.env['OOMWATCH_VM'] === '1' ? {} : { skip: 'runs only inside the VM: bash test/vm/run' };
}

/** Run `node bin/oomwatch ARGS...` to completion (the CLI exactly as a user runs it). */
export function oomwatch(args: readonly string[], timeoutMs = 60_000): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [OOMWATCH_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return r;
}

/** The text of a cgroup interface file, relative to the cgroup2 root (`a/b`, `memory.max`). */
export function cgFile(name: string, file: string): string {
  return readFileSync(join(CGROUP2, name, file), 'utf8');
}

/** A flat-keyed file (memory.events, memory.events.local, memory.stat) as numbers by key. */
export function cgKeyed(name: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of cgFile(name, file).split('\n')) {
    const [key, value] = line.split(' ');
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

/** Member PIDs of one cgroup (cgroup.procs). */
export function cgProcs(name: string): number[] {
  return cgFile(name, 'cgroup.procs').split('\n').filter(Boolean).map(Number);
}

/**
 * Remove a test's cgroup tree whatever the CLI did: kill everything in it through cgroup.kill
 * (5.14+), wait until it is unpopulated, then rmdir bottom-up. For cleanup only; the tests
 * check the CLI's own `rm`.
 */
export async function removeTree(name: string): Promise<void> {
  const dir = join(CGROUP2, name);
  if (!existsSync(dir)) return;
  writeFileSync(join(dir, 'cgroup.kill'), '1');
  for (let i = 0; i < 200 && /populated 1/.test(cgFile(name, 'cgroup.events')); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  const rmdirDeep = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rmdirDeep(join(d, e.name));
    rmdirSync(d);
  };
  rmdirDeep(dir);
}

/** The OOM hog of the issue: busybox dd allocates its 64M buffer at once; in a 32M cgroup it is OOM-killed. */
export const HOG = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'] as const;

/**
 * Start CMD inside the cgroup NAME from its first instruction: a shell writes its own PID to
 * cgroup.procs, then execs CMD (the kernel keeps the cgroup across exec).
 */
export function spawnIn(name: string, cmd: readonly string[]): ChildProcess {
  const procs = join(CGROUP2, name, 'cgroup.procs');
  return spawn('sh', ['-c', `echo $$ > '${procs}' && exec "$@"`, 'sh', ...cmd], { stdio: 'ignore' });
}

/** Start a process that just waits (outside any test cgroup until it is moved). */
export function spawnSleeper(): ChildProcess {
  return spawn('sleep', ['600'], { stdio: 'ignore' });
}

/** How a child ended. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Kill by PID the children a test started (cleanup; the ones already gone are skipped). */
export function killAll(children: readonly ChildProcess[]): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/**
 * Make NAME (and missing parents) straight through cgroupfs, without oomwatch: +memory goes into
 * each parent's cgroup.subtree_control first, then `files` (e.g. `{ 'memory.max': '33554432' }`)
 * are written. For tests of kernel facts and for setting the scene.
 */
export function makeCg(name: string, files: Readonly<Record<string, string>> = {}): void {
  const parts = name.split('/');
  for (let i = 0; i < parts.length; i++) {
    const parent = join(CGROUP2, ...parts.slice(0, i));
    writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory');
    const dir = join(parent, parts[i] ?? '');
    if (!existsSync(dir)) mkdirSync(dir);
  }
  for (const [file, value] of Object.entries(files)) writeFileSync(join(CGROUP2, name, file), value);
}

/** A process that ignores SIGTERM (a shell blocked in `read` on a pipe nobody writes): only SIGKILL ends it. */
export function spawnStubborn(): ChildProcess {
  return spawn('sh', ['-c', 'trap "" TERM; read -r _'], { stdio: ['pipe', 'ignore', 'ignore'] });
}

/**
 * Every record the kernel log holds right now, as raw /dev/kmsg records
 * (`PRIO,SEQ,TS,FLAGS;MESSAGE`, Documentation/ABI/testing/dev-kmsg): a non-blocking fd drained
 * until EAGAIN, one record per read, with a buffer no record can outgrow (a short one loses it).
 */
export function kmsgRecords(): string[] {
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  const out: string[] = [];
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break; // drained
        if (code === 'EPIPE') continue; // the ring overran us; the next read goes on from the oldest record
        throw err;
      }
      out.push(buf.toString('utf8', 0, n));
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
