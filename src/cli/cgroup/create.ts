import type { Command } from 'commander';
import { isEmptySpec } from '../../cgroup/limits.js';
import { createWithLimits } from '../../cgroup/create.js';
import type { LimitsSpec } from '../../cgroup/limits.js';
import { action } from '../common.js';
import { SIZES_HELP, addLimitOptions, addParentOption, specFrom, target, type LimitOptions } from './options.js';

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
