import type { Command } from 'commander';
import { NoSuchCgroupError, UsageError } from '../../errors.js';
import { isEmptySpec } from '../../cgroup/limits.js';
import { action } from '../common.js';
import { describe } from './create.js';
import { SIZES_HELP, addLimitOptions, addParentOption, specFrom, target, type LimitOptions } from './options.js';

export function registerSet(group: Command): void {
  const cmd = group.command('set <name>').description('change the limits of an existing memory cgroup');
  addParentOption(addLimitOptions(cmd))
    .addHelpText(
      'after',
      `${SIZES_HELP}

Examples:
  oomwatch cgroup set batch/worker-1 --memory 128M
  oomwatch cgroup set batch/worker-1 --memory max`,
    )
    .action(
      action((name: string, opts: LimitOptions, c: Command) => {
        const { backend, path } = target(name, opts, c);
        const spec = specFrom(opts, c);
        if (isEmptySpec(spec)) throw new UsageError('set: give at least one limit (--memory, --memory-high, --memory-low, --swap, --oom-group, --no-oom-kill)');
        if (!backend.exists(path)) {
          throw new NoSuchCgroupError(path, backend.dir(path), `create it with 'oomwatch cgroup create ${path.slice(1)}'`);
        }
        const writes = backend.writesFor(path, spec);
        backend.apply(path, writes);
        process.stdout.write(`set ${path}: ${describe(writes)}\n`);
      }),
    );
}
