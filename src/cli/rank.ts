import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { detectLayout } from '../cgroup/mode.js';
import { OomwatchError, UsageError, isErrno } from '../errors.js';
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

function kib(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)}G`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)}M`;
  return `${n}K`;
}

/** v1 memory.limit_in_bytes reads 9223372036854771712 (PAGE_COUNTER_MAX) when unlimited; v2 memory.max reads `max`. */
function limitKb(dir: string, v1: boolean): number | null {
  const file = join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max');
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    // The root cgroup of v2 has no memory.max: unlimited.
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  if (text === 'max') return null;
  const n = Number(text);
  if (!Number.isFinite(n) || n >= 2 ** 62) return null;
  return Math.floor(n / 1024);
}

function table(rows: readonly RankedCandidate[]): string {
  const head = `${'RANK'.padStart(5)} ${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'SCORE'.padStart(5)} ${'ADJ'.padStart(5)} ${'RSS'.padStart(8)} ${'SWAP'.padStart(8)}  CGROUP`;
  const lines = rows.map(
    (r) =>
      `${(r.rank === null ? 'never' : String(r.rank)).padStart(5)} ${String(r.pid).padStart(8)} ${r.process.padEnd(16)} ${String(r.oom_score).padStart(5)} ${String(r.oom_score_adj).padStart(5)} ${kib(r.rss_kb).padStart(8)} ${kib(r.swap_kb).padStart(8)}  ${r.cgroup ?? '-'}`,
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
        const host = readMemTotals(roots.proc);
        let totalKb = host.memTotalKb + host.swapTotalKb;
        let pids: number[];
        let memoryV1 = true;
        let cgroup: string | null = null;
        const layout = detectLayout(roots);
        if (layout.memory !== null) memoryV1 = layout.memory.version === 1;
        if (name === undefined) {
          pids = listProcPids(roots.proc);
        } else {
          if (layout.memory === null) {
            throw new OomwatchError('ENOMEMCG', 'no cgroup hierarchy carries the memory controller on this host', { exitCode: 2 });
          }
          const rel = name.replace(/^\/+/, '').replace(/\/+$/, '');
          if (rel.split('/').includes('..')) throw new UsageError(`cgroup name ${JSON.stringify(name)} must stay inside the hierarchy`);
          const dir = join(layout.memory.mount, rel);
          if (!existsSync(join(dir, 'cgroup.procs'))) {
            throw new OomwatchError('ENOCGROUP', `no memory cgroup ${JSON.stringify(name)} under ${layout.memory.mount}`, { exitCode: 2 });
          }
          cgroup = `/${rel}`;
          const limit = limitKb(dir, memoryV1);
          if (limit !== null) totalKb = Math.min(limit, totalKb);
          pids = listCgroupPids(dir);
        }
        const candidates: Candidate[] = [];
        for (const pid of pids) {
          const c = readCandidate(roots.proc, pid, memoryV1);
          if (c !== undefined) candidates.push(c);
        }
        let ranked = rankCandidates(candidates, totalKb);
        if (top !== undefined) ranked = ranked.slice(0, top);
        if (opts.json) {
          printJson({ cgroup, total_kb: totalKb, processes: ranked });
          return;
        }
        process.stdout.write(table(ranked));
      }),
    );
}
