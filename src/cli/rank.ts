import type { Command } from 'commander';
import { detectLayout } from '../cgroup/mode.js';
import { cgroupPath } from '../cgroup/name.js';
import { backendFor } from '../cgroup/open.js';
import { formatKb } from '../cgroup/size.js';
import type { MemoryBackend } from '../cgroup/backend.js';
import { NoSuchCgroupError, OomwatchError, UsageError } from '../errors.js';
import { rankCandidates, type RankedCandidate } from '../oom/rank.js';
import { listCgroupPids, listProcPids, readCandidate, type Candidate } from '../proc/candidates.js';
import { readMemTotals } from '../proc/meminfo.js';
import { action, printJson, rootsOf } from './common.js';

const HELP = `
Lists processes in the order the kernel's OOM killer would choose them (mm/oom_kill.c
oom_badness: resident memory + swap + page tables, shifted by oom_score_adj in thousandths
of the memory at stake), with /proc/<pid>/oom_score, oom_score_adj, RSS, swap and each
process's memory cgroup. Rank 1 dies first. oom_score_adj -1000, init and kernel threads
are never chosen ("never").

NAME is a memory cgroup relative to the memory hierarchy's root (no leading slash needed):
its processes and those of every cgroup below it, weighed against its limit. Without NAME,
every process on the host, weighed against RAM + swap.

Examples:
  oomwatch rank                         the whole host
  oomwatch rank -n 5 kubepods.slice     the five next victims among the pods
  oomwatch rank --json system.slice/foo.service`;

/**
 * The cgroup's own memory limit in bytes, null when it has none: stats().max is null for an
 * unlimited cgroup (v2 `max`, v1 the huge PAGE_COUNTER_MAX value). The root cgroup has no limit
 * on either version (v2 has no memory.max there, and stats() refuses the v2 root). A v2 cgroup
 * whose parent does not enable the memory controller has no memory.max either: no limit of its
 * own, so its processes are weighed against RAM + swap as on the host.
 */
function limitOf(backend: MemoryBackend, path: string): number | null {
  if (path === '/') return null;
  try {
    return backend.stats(path).max;
  } catch (err) {
    if (err instanceof OomwatchError && err.code === 'ECONTROLLER') return null;
    throw err;
  }
}

function table(rows: readonly RankedCandidate[]): string {
  const head = `${'RANK'.padStart(5)} ${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'SCORE'.padStart(5)} ${'ADJ'.padStart(5)} ${'RSS'.padStart(8)} ${'SWAP'.padStart(8)}  CGROUP`;
  const lines = rows.map(
    (r) =>
      `${(r.rank === null ? 'never' : String(r.rank)).padStart(5)} ${String(r.pid).padStart(8)} ${r.process.padEnd(16)} ${String(r.oom_score).padStart(5)} ${String(r.oom_score_adj).padStart(5)} ${formatKb(r.rss_kb).padStart(8)} ${formatKb(r.swap_kb).padStart(8)}  ${r.cgroup ?? '-'}`,
  );
  return `${[head, ...lines].join('\n')}\n`;
}

export function registerRank(program: Command): void {
  program
    .command('rank')
    .description('who dies next: processes in the order the OOM killer would choose them')
    .argument('[name]', 'a memory cgroup, relative to the memory hierarchy root (default: the whole host)')
    .option('--json', 'print JSON: {"cgroup", "total_kb", "processes": [...]}')
    .option('-n, --top <count>', 'show only the first <count> processes')
    .addHelpText('after', HELP)
    .action(
      action(async (name: string | undefined, opts: { json?: boolean; top?: string }, cmd: Command) => {
        const roots = rootsOf(cmd);
        let top: number | undefined;
        if (opts.top !== undefined) {
          top = Number(opts.top);
          if (!Number.isSafeInteger(top) || top < 1) throw new UsageError(`--top needs a positive integer, got ${JSON.stringify(opts.top)}`);
        }
        // A bad NAME is a usage error, refused before anything is read.
        const path = name === undefined ? undefined : cgroupPath(name, { allowRoot: true });
        let pids: number[];
        let memoryV1 = true;
        let limit: number | null = null;
        const layout = detectLayout(roots);
        if (layout.memory !== null) memoryV1 = layout.memory.version === 1;
        if (path === undefined) {
          pids = listProcPids(roots.proc);
        } else {
          const backend = backendFor(layout);
          if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path), "list the cgroups with 'oomwatch cgroup ls'");
          limit = limitOf(backend, path);
          pids = listCgroupPids(backend.dir(path));
        }
        const host = readMemTotals(roots.proc);
        const hostKb = host.memTotalKb + host.swapTotalKb;
        const totalKb = limit === null ? hostKb : Math.min(Math.floor(limit / 1024), hostKb);
        const candidates: Candidate[] = [];
        for (const pid of pids) {
          const c = readCandidate(roots.proc, pid, memoryV1);
          if (c !== undefined) candidates.push(c);
        }
        let ranked = rankCandidates(candidates, totalKb);
        if (top !== undefined) ranked = ranked.slice(0, top);
        if (opts.json) {
          printJson({ cgroup: path ?? null, total_kb: totalKb, processes: ranked });
          return;
        }
        process.stdout.write(table(ranked));
      }),
    );
}
