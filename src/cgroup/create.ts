import type { MemoryBackend } from './backend.js';
import type { LimitsSpec } from './limits.js';

/**
 * Create `path` (and missing ancestors) and apply `spec`. The writes are computed before anything
 * is created, so a knob the version lacks fails with nothing written; if the kernel then refuses a
 * value, the cgroups this call created are removed again.
 */
export function createWithLimits(backend: MemoryBackend, path: string, spec: LimitsSpec): { created: string[] } {
  const writes = backend.writesFor(path, spec);
  const created = backend.create(path);
  try {
    backend.apply(path, writes);
  } catch (err) {
    for (const p of [...created].reverse()) {
      try {
        backend.remove(p);
      } catch {
        // Best effort: the original error is the one worth reporting.
      }
    }
    throw err;
  }
  return { created };
}
