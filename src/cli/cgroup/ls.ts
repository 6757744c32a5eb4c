import type { Command } from 'commander';
import { NoSuchCgroupError, OomwatchError } from '../../errors.js';
import type { MemoryBackend } from '../../cgroup/backend.js';
import { formatBytes } from '../../cgroup/size.js';
import { action, printJson } from '../common.js';
import { addParentOption, target } from './options.js';

export interface TreeEntry {
  path: string;
  depth: number;
  current: number | null;
  max: number | null;
  working_set: number | null;
  oom_kill: number | null;
}

/** Walk a cgroup tree, top down. A cgroup removed during the walk is skipped. */
export function walkTree(backend: MemoryBackend, path: string, depth = 0, out: TreeEntry[] = []): TreeEntry[] {
  let entry: TreeEntry = { path, depth, current: null, max: null, working_set: null, oom_kill: null };
  try {
    const s = backend.stats(path);
    entry = { path, depth, current: s.current, max: s.max, working_set: s.working_set, oom_kill: s.events.oom_kill };
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
  addParentOption(cmd)
    .option('--json', 'print a JSON array of {path, depth, current, max, working_set, oom_kill}')
    .addHelpText('after', `
Example:
  oomwatch cgroup ls batch`)
    .action(
      action((name: string | undefined, opts: { parent?: string; json?: boolean }, c: Command) => {
        const { backend, path } = target(name ?? '/', opts, c, true);
        if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path));
        const tree = walkTree(backend, path);
        if (opts.json) {
          printJson(tree);
          return;
        }
        const rows = tree.map((e) => [
          `${'  '.repeat(e.depth)}${e.depth === 0 ? e.path : e.path.slice(e.path.lastIndexOf('/') + 1)}`,
          formatBytes(e.current),
          e.current === null ? '-' : e.max === null ? 'none' : formatBytes(e.max),
          e.oom_kill === null ? '-' : String(e.oom_kill),
        ]);
        const header = ['CGROUP', 'USAGE', 'LIMIT', 'OOM_KILLS'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
        const fmt = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
        process.stdout.write(`${[fmt(header), ...rows.map(fmt)].join('\n')}\n`);
      }),
    );
}
