import type { Command } from 'commander';
import { NoSuchCgroupError } from '../../errors.js';
import type { CgroupStats } from '../../cgroup/backend.js';
import { formatBytes } from '../../cgroup/size.js';
import { resolveOwner } from '../../oom/owner.js';
import { type OwnerNames, ownerLabel, ownerNames } from '../../runtime/ownerName.js';
import { readIdentity } from '../../runtime/read.js';
import { runtimeRootsUnder } from '../../runtime/roots.js';
import { action, printJson } from '../common.js';
import { addHostRootOption, addParentOption, target } from './options.js';

const pct = (n: number, of: number | null) => (of === null || of === 0 ? '' : ` (${((100 * n) / of).toFixed(0)}% of limit)`);

export function formatStats(s: CgroupStats, dir: string, owner: OwnerNames | null = null): string {
  const ev = Object.entries(s.events)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k === 'max' && s.version === 1 ? 'max(failcnt)' : k}=${v as number}`)
    .join(' ');
  const lines = [
    `cgroup ${s.path}  (cgroup v${s.version}, ${dir})`,
    ...ownerLines(owner),
    `  usage        ${formatBytes(s.current)}${pct(s.current, s.max)}`,
    `  working set  ${formatBytes(s.working_set)}${pct(s.working_set, s.max)}`,
    `  peak         ${formatBytes(s.peak)}`,
    `  limit        ${s.max === null ? 'none' : formatBytes(s.max)}`,
  ];
  if (s.version === 2) lines.push(`  high         ${s.high === null ? 'none' : formatBytes(s.high)}`);
  lines.push(`  ${s.version === 1 ? 'soft limit' : 'low       '}   ${s.low === null ? 'none' : formatBytes(s.low)}`);
  lines.push(`  swap limit   ${s.swap_max === null ? 'none' : formatBytes(s.swap_max)}`);
  if (s.oom_group !== null) lines.push(`  oom.group    ${s.oom_group ? 'on (an OOM kills the whole cgroup)' : 'off'}`);
  if (s.oom_kill_disable !== null) lines.push(`  oom killer   ${s.oom_kill_disable ? 'DISABLED (tasks wait)' : 'enabled'}${s.under_oom ? ', UNDER OOM now' : ''}`);
  lines.push(`  events       ${ev}`);
  if (s.pressure !== null) {
    const p = s.pressure;
    lines.push(`  pressure     some avg10=${p.some.avg10}%${p.full === null ? '' : ` full avg10=${p.full.avg10}%`}`);
  }
  lines.push(`  pids         ${s.pids.length === 0 ? 'none' : s.pids.join(' ')}`);
  return lines.join('\n');
}

/** Who owns the cgroup; for a container also its runtime, full id and image. Only what is known. */
function ownerLines(o: OwnerNames | null): string[] {
  const label = o === null ? null : ownerLabel(o);
  if (o === null || label === null) return [];
  const lines = [`  owner        ${label}`];
  if (o.container_id !== null) lines.push(`  container    ${o.runtime ?? 'runtime unknown'} ${o.container_id}`);
  if (o.image !== null) lines.push(`  image        ${o.image}`);
  return lines;
}

export function registerShow(group: Command): void {
  const cmd = group.command('show <name>').description('limits, usage, peak, working set, OOM and limit counters, member PIDs');
  addHostRootOption(addParentOption(cmd))
    .option('--json', 'print JSON in the v2 vocabulary for both versions (max: null = unlimited), with owner: who owns the cgroup')
    .addHelpText('after', `
On v1, events.max is memory.failcnt and events.oom_kill comes from memory.oom_control
(it counts kills of this cgroup's own tasks); keys v1 lacks are null.

Example:
  oomwatch cgroup show batch/worker-1 --json`)
    .action(
      action((name: string, opts: { parent?: string; json?: boolean; hostRoot?: string }, c: Command) => {
        const { backend, path } = target(name, opts, c, true);
        if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path));
        const s = backend.stats(path);
        const owner = resolveOwner(path);
        const known = owner.container_id !== null || owner.pod_uid !== null || owner.unit !== null;
        const names = known ? ownerNames(owner, readIdentity(owner, runtimeRootsUnder(opts.hostRoot ?? '/')).identity) : null;
        if (opts.json) printJson({ ...s, owner: names });
        else process.stdout.write(`${formatStats(s, backend.dir(path), names)}\n`);
      }),
    );
}
