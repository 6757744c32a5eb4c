import type { MemoryBackend } from './backend.js';
import type { CgroupWrite, LimitsSpec } from './limits.js';

/**
 * Create `path` (and missing ancestors) and apply `spec`. The writes are computed before anything
 * is created, so a knob the version lacks fails with nothing written; if the kernel then refuses a
 * value, the cgroups this call created are removed again.
 */
export function createWithLimits(
  backend: MemoryBackend,
  path: string,
  spec: LimitsSpec,
): { created: string[]; writes: CgroupWrite[] } {
  const writes = backend.writesFor(path, spec);
  const created = backend.create(path);
  try {
    backend.apply(path, writes);
  } catch (err) {
    removeCreated(backend, created);
    throw err;
  }
  return { created, writes };
}

/**
 * Remove the cgroups a failed operation created (`created` top down, as create() returns them),
 * bottom up. Best effort: the caller rethrows the error that made it give up, the one worth reporting.
 */
export function removeCreated(backend: MemoryBackend, created: readonly string[]): void {
  for (const p of [...created].reverse()) {
    try {
      backend.remove(p);
    } catch {
      // A cgroup some other process entered meanwhile stays; the caller's error is reported.
    }
  }
}
