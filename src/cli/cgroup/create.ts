import type { Command } from 'commander';
import { isEmptySpec } from '../../cgroup/limits.js';
import { createWithLimits } from '../../cgroup/create.js';
import type { CgroupWrite } from '../../cgroup/limits.js';
import { formatBytes } from '../../cgroup/size.js';
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
        const { created, writes } = createWithLimits(backend, path, spec);
        const what = created.includes(path) ? 'created' : 'exists:';
        const limits = isEmptySpec(spec) ? '' : `, limits applied (${describe(writes)})`;
        process.stdout.write(`${what} ${path} (cgroup v${backend.version}, ${backend.dir(path)})${limits}\n`);
      }),
    );
}

/** Control files that hold a size in bytes; v1 writes -1 for unlimited, v2 `max`. */
const SIZE_FILE = /(\.max|\.high|\.low|_in_bytes)$/;

/** The writes as a person reads them: the control file and the value, sizes as tables show them. */
export function describe(writes: readonly CgroupWrite[]): string {
  return writes
    .map(({ file, value }) => {
      if (!SIZE_FILE.test(file)) return `${file}=${value}`;
      if (value === 'max' || value === '-1') return `${file}=max`;
      return /^\d+$/.test(value) ? `${file}=${formatBytes(Number(value))}` : `${file}=${value}`;
    })
    .join(' ');
}
