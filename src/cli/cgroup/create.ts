import type { Command } from 'commander';
import { isEmptySpec } from '../../cgroup/limits.js';
import type { MemoryBackend } from '../../cgroup/backend.js';
import type { LimitsSpec } from '../../cgroup/limits.js';
import { action } from '../common.js';
import { SIZES_HELP, addLimitOptions, addParentOption, specFrom, target, type LimitOptions } from './options.js';

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

export function registerCreate(group: Command): void {
  const cmd = group.command('create <name>').description('create a memory cgroup (and missing parents) and apply limits');
  addParentOption(addLimitOptions(cmd))
    .addHelpText(
      'after',
      `${SIZES_HELP}
On cgroup v2, +memory is enabled in each parent's cgroup.subtree_control as needed.
Creating a cgroup that exists applies the limits to it.

Examples:
  oomwatch cgroup create batch/worker-1 --memory 64M
  oomwatch cgroup create batch/worker-2 --memory 1.5G --swap 0 --memory-low 256M`,
    )
    .action(
      action((name: string, opts: LimitOptions, c: Command) => {
        const { backend, path } = target(name, opts, c);
        const spec = specFrom(opts, c);
        const { created } = createWithLimits(backend, path, spec);
        const what = created.includes(path) ? 'created' : 'exists:';
        const limits = isEmptySpec(spec) ? '' : `, limits applied (${describe(spec)})`;
        process.stdout.write(`${what} ${path} (cgroup v${backend.version}, ${backend.dir(path)})${limits}\n`);
      }),
    );
}

export function describe(spec: LimitsSpec): string {
  return Object.entries(spec)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}
