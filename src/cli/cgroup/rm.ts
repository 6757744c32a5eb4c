import type { Command } from 'commander';
import { NoSuchCgroupError, OomwatchError } from '../../errors.js';
import type { MemoryBackend } from '../../cgroup/backend.js';
import { action } from '../common.js';
import { addParentOption, target } from './options.js';

/** Remove a cgroup; with force, first kill its processes and remove its descendants. */
export async function removeCgroup(backend: MemoryBackend, path: string, force: boolean): Promise<void> {
  if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path));
  if (!force) {
    const pids = backend.pids(path);
    if (pids.length > 0) {
      throw new OomwatchError('EBUSY', `cgroup ${path} still has ${pids.length} process(es) (${pids.slice(0, 10).join(' ')}): stop them, or use --force to kill them`);
    }
    const children = backend.children(path);
    if (children.length > 0) {
      throw new OomwatchError('EBUSY', `cgroup ${path} has child cgroups (${children.slice(0, 10).join(' ')}): remove them first, or use --force`);
    }
  } else {
    await backend.killAll(path);
  }
  const removeTree = (p: string): void => {
    for (const child of backend.children(p)) removeTree(child);
    backend.remove(p);
  };
  removeTree(path);
}

export function registerRm(group: Command): void {
  const cmd = group.command('rm <name>').description('remove a memory cgroup');
  addParentOption(cmd)
    .option('-f, --force', 'first kill its processes (v2 cgroup.kill where the kernel has it) and remove its child cgroups')
    .addHelpText('after', `
Without --force, a cgroup with processes or children is an error that says so.

Example:
  oomwatch cgroup rm batch/worker-1 --force`)
    .action(
      action(async (name: string, opts: { parent?: string; force?: boolean }, c: Command) => {
        const { backend, path } = target(name, opts, c);
        await removeCgroup(backend, path, opts.force === true);
        process.stdout.write(`removed ${path}\n`);
      }),
    );
}
