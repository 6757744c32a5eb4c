import type { Command } from 'commander';
import { NoSuchCgroupError, OomwatchError } from '../../errors.js';
import type { MemoryBackend } from '../../cgroup/backend.js';
import { formatBytes } from '../../cgroup/size.js';
import { resolveOwner } from '../../oom/owner.js';
import { type OwnerNames, ownerLabel, ownerNames } from '../../runtime/ownerName.js';
import { readIdentity } from '../../runtime/read.js';
import { runtimeRootsUnder, type RuntimeRoots } from '../../runtime/roots.js';
import { action, printJson } from '../common.js';
import { addHostRootOption, addParentOption, target } from './options.js';

export interface TreeEntry {
  path: string;
  depth: number;
  current: number | null;
  max: number | null;
  working_set: number | null;
  oom_kill: number | null;
  /** Who owns the cgroup, from its path and the container runtime's files; null when nobody known. */
  owner: OwnerNames | null;
}

/**
 * Name each entry's owner: a container's cgroup from its runtime's files, a pod's cgroup from the
 * names of its containers (a pod cgroup names no container, whose files hold the pod's names).
 */
export function nameOwners(tree: TreeEntry[], roots: RuntimeRoots): void {
  const pods = new Map<string, OwnerNames>();
  for (const e of tree) {
    const owner = resolveOwner(e.path);
    if (owner.container_id === null && owner.pod_uid === null && owner.unit === null) continue;
    const identity = owner.container_id === null ? null : readIdentity(owner, roots).identity;
    e.owner = ownerNames(owner, identity);
    if (owner.pod_uid !== null && e.owner.pod !== null) pods.set(owner.pod_uid, e.owner);
  }
  for (const e of tree) {
    const o = e.owner;
    const pod = o === null || o.container_id !== null || o.pod_uid === null ? undefined : pods.get(o.pod_uid);
    if (o !== null && pod !== undefined) e.owner = { ...o, namespace: pod.namespace, pod: pod.pod };
  }
}

/** Walk a cgroup tree, top down. A cgroup removed during the walk is skipped. */
export function walkTree(backend: MemoryBackend, path: string, depth = 0, out: TreeEntry[] = []): TreeEntry[] {
  let entry: TreeEntry = { path, depth, current: null, max: null, working_set: null, oom_kill: null, owner: null };
  try {
    const s = backend.stats(path);
    entry = { path, depth, current: s.current, max: s.max, working_set: s.working_set, oom_kill: s.events.oom_kill, owner: null };
  } catch (err) {
    if (!(err instanceof OomwatchError)) throw err;
    if (!backend.exists(path)) return out; // vanished mid-walk
    // else: the v2 root or a cgroup without the memory controller: list it without numbers.
  }
  out.push(entry);
  let children: string[] = [];
  try {
    children = backend.children(path);
  } catch (err) {
    if (!(err instanceof OomwatchError && err.code === 'ENOCGROUP')) throw err;
  }
  for (const child of children) walkTree(backend, child, depth + 1, out);
  return out;
}

export function registerLs(group: Command): void {
  const cmd = group.command('ls [name]').description('the cgroup tree below NAME (default: the root) with usage and limit');
  addHostRootOption(addParentOption(cmd))
    .option('--json', 'print a JSON array of {path, depth, current, max, working_set, oom_kill, owner}')
    .addHelpText('after', `
Example:
  oomwatch cgroup ls batch`)
    .action(
      action((name: string | undefined, opts: { parent?: string; json?: boolean; hostRoot?: string }, c: Command) => {
        const { backend, path } = target(name ?? '/', opts, c, true);
        if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path));
        const tree = walkTree(backend, path);
        nameOwners(tree, runtimeRootsUnder(opts.hostRoot ?? '/'));
        if (opts.json) {
          printJson(tree);
          return;
        }
        const rows = tree.map((e) => [
          `${'  '.repeat(e.depth)}${e.depth === 0 ? e.path : e.path.slice(e.path.lastIndexOf('/') + 1)}`,
          formatBytes(e.current),
          e.current === null ? '-' : e.max === null ? 'none' : formatBytes(e.max),
          e.oom_kill === null ? '-' : String(e.oom_kill),
          (e.owner === null ? null : ownerLabel(e.owner)) ?? '',
        ]);
        const header = ['CGROUP', 'USAGE', 'LIMIT', 'OOM_KILLS', 'OWNER'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
        const last = header.length - 1;
        const fmt = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : i === last ? v : v.padStart(widths[i] as number))).join('  ').trimEnd();
        process.stdout.write(`${[fmt(header), ...rows.map(fmt)].join('\n')}\n`);
      }),
    );
}
