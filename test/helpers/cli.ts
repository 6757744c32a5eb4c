import { spawnSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

/** The checkout's top directory (tests run from dist/test/..., sources stay where they are). */
export const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(TOP, 'bin', 'oomwatch');
/**
 * The node flags of bin/oomwatch's `#!/usr/bin/env -S node FLAGS` line: what node runs with when
 * bin/oomwatch is run as a program (and the release's bin/oomwatch, scripts/package). Started as
 * `process.execPath BIN`, node does not read that line: the benchmarks pass these to measure
 * oomwatch as it runs.
 */
export const BIN_NODE_FLAGS: readonly string[] = ((): string[] => {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env(?: -S)? node((?: \S+)*)\s*$/.exec(first);
  if (m === null) throw new Error(`${BIN}: the first line is not \`#!/usr/bin/env [-S] node [FLAGS]\`: ${first}`);
  return (m[1] ?? '').split(' ').filter((f) => f !== '');
})();
export const FIXTURES = join(TOP, 'test', 'fixtures');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the real executable, as a user would. */
export function oomwatch(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    timeout: 60_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking the test's event loop. */
export function oomwatchAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** Global flags that point every root at a fixture tree under test/fixtures/NAME. */
export function fixtureRoots(name: string): string[] {
  const top = join(FIXTURES, name);
  return ['--cgroup-root', join(top, 'sys', 'fs', 'cgroup'), '--proc-root', join(top, 'proc')];
}
