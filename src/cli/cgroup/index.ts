import type { Command } from 'commander';
import { registerClassify } from './classify.js';
import { registerCreate } from './create.js';
import { registerExec } from './exec.js';
import { registerLs } from './ls.js';
import { registerRm } from './rm.js';
import { registerSet } from './set.js';
import { registerShow } from './show.js';

export function registerCgroup(program: Command): void {
  const group = program
    .command('cgroup')
    .description('create, configure, inspect and remove memory cgroups (v1 or v2, as the host has)')
    .addHelpText(
      'after',
      `
Needs root to change anything (reading works for anyone). On a cgroup v2 host run by
systemd, create cgroups under a subtree systemd delegated to you (a unit with
Delegate=yes, see --parent) rather than at the root, so systemd does not fight you.

Examples:
  oomwatch cgroup create batch/worker-1 --memory 64M
  oomwatch cgroup exec batch/worker-1 -- ./job.sh
  oomwatch cgroup show batch/worker-1
  oomwatch cgroup rm batch/worker-1 --force`,
    );
  registerCreate(group);
  registerSet(group);
  registerExec(group);
  registerClassify(group);
  registerShow(group);
  registerLs(group);
  registerRm(group);
}
