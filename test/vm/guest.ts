/**
 * Helpers for the guest suite (test/vm/suite/*.test.ts): these tests run only inside the qemu VM
 * that test/vm/run boots, on a real kernel with a pure cgroup2 hierarchy at /sys/fs/cgroup
 * (Documentation/admin-guide/cgroup-v2.rst). The VM is thrown away after the run, but tests share
 * it while it runs, so each test uses cgroup names of its own and removes them.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
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
