import type { Command } from 'commander';
import { NoSuchCgroupError, UsageError } from '../../errors.js';
import { action, reportError } from '../common.js';
import { addParentOption, target } from './options.js';

export function registerClassify(group: Command): void {
  const cmd = group.command('classify <name> <pid...>').description('move running processes (whole thread groups) into a memory cgroup');
  addParentOption(cmd)
    .addHelpText('after', `
The cgroup must exist. Each PID is moved on its own; a failure is reported and the rest still moved (exit 1).

Example:
  oomwatch cgroup classify batch/worker-1 4242 4243`)
    .action(
      action((name: string, pids: string[], opts: { parent?: string }, c: Command) => {
        const nums = pids.map((p) => {
          if (!/^[1-9]\d*$/.test(p)) throw new UsageError(`classify: ${JSON.stringify(p)} is not a PID`);
          return Number(p);
        });
        const { backend, path } = target(name, opts, c);
        if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path));
        let status = 0;
        for (const pid of nums) {
          try {
            backend.classify(path, pid);
            process.stdout.write(`moved ${pid} into ${path}\n`);
          } catch (err) {
            status = Math.max(status, reportError(err));
          }
        }
        return status;
      }),
    );
}
