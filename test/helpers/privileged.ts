import type { TestContext } from 'node:test';
import { existsSync } from 'node:fs';

export const V1_MEMORY_MOUNT = '/sys/fs/cgroup/memory';

/** Why a real-kernel test cannot run here, or undefined when it can. */
export function realKernelUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync(`${V1_MEMORY_MOUNT}/memory.limit_in_bytes`)) return `no cgroup v1 memory hierarchy at ${V1_MEMORY_MOUNT}`;
  return undefined;
}

/**
 * Options for a real-kernel `test()`/`describe()`: skipped where the kernel is out of reach,
 * except in CI (CI=true), where a privileged test that cannot run fails the run instead.
 */
export function realKernel(): { skip?: string } {
  const why = realKernelUnavailable();
  if (why === undefined) return {};
  if (process.env['CI'] === 'true') {
    throw new Error(`real-kernel test cannot run in CI: ${why}`);
  }
  return { skip: why };
}

/** For tests that check inside: fail in CI, skip elsewhere. */
export function requireRealKernel(t: TestContext): boolean {
  const why = realKernelUnavailable();
  if (why === undefined) return true;
  if (process.env['CI'] === 'true') throw new Error(`real-kernel test cannot run in CI: ${why}`);
  t.skip(why);
  return false;
}
