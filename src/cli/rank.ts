import type { Command } from 'commander';
import { detectLayout } from '../cgroup/mode.js';
import { ancestors, cgroupPath } from '../cgroup/name.js';
import { backendFor } from '../cgroup/open.js';
import { formatKb } from '../cgroup/size.js';
import type { MemoryBackend } from '../cgroup/backend.js';
import { NoSuchCgroupError, OomwatchError, UsageError } from '../errors.js';
import { oomDomainOf, rankCandidates, type LimitLevel, type OomDomain, type RankedCandidate } from '../oom/rank.js';
import { readPageSize } from '../proc/auxv.js';
import { listCgroupPids, listProcPids, readCandidate, type Candidate } from '../proc/candidates.js';
import { readMemTotals, type MemTotals } from '../proc/meminfo.js';
import { action, printJson, rootsOf } from './common.js';

const HELP = `
Lists processes in the order the kernel's OOM killer would choose them, by the kernel's own
score (mm/oom_kill.c oom_badness): resident pages + swapped-out pages + page-table pages, plus
oom_score_adj thousandths of the memory at stake (integer pages: adj × (total pages / 1000)).
"→" marks the process killed first. Never chosen ("never"): oom_score_adj -1000 and init;
kernel threads are not listed. The first line says which OOM it is, against what memory, why.

Which OOM. Without NAME: a system OOM, every process on the host against RAM + swap.
With NAME (a memory cgroup, relative to the memory hierarchy's root): the OOM that fires when
NAME keeps growing. Each page NAME charges is charged to NAME and to every ancestor, and the
kernel's OOM happens in the first cgroup whose limit the charge would pass: of the limits on
NAME and above it, the one with the least room left (limit − usage; on a tie the lowest). That
OOM weighs every process of THAT cgroup's subtree, against ITS limit (plus the swap it may use),
so when an ancestor's limit fires first the list holds its other children's processes too, and
the process killed may not be in NAME at all. A limit at or above RAM + swap never fires (the
host runs out first): with no other limit, NAME's OOM is the system OOM above. Usage moves: the
choice holds for the usage read now.

Columns:
  POINTS    the badness in thousandths (‰) of the memory at stake, the unit of oom_score_adj:
            POINTS ≈ the process's share of that memory in ‰ + ADJ. (/proc/<pid>/oom_score is
            the same badness against RAM + swap only, shifted and scaled: any process small
            against the host reads about 666 there, whatever its cgroup's limit; --json keeps
            it as system_oom_score, the kernel's view of a system-wide OOM.)
  ADJ       oom_score_adj (-1000..1000); "↑2"/"↓1": how many places the oom_score_adj values
            (its own or others') moved the process from its rank by size alone.
  RSS, SWAP, PGTABLES   what the badness counts, from /proc/<pid>/status.
  CGROUP    the process's memory cgroup.
Ties: on equal points the kernel kills the last of them it scans (it replaces its choice unless
a task has fewer points). It scans a system OOM in process creation order, taken as PID order;
a cgroup OOM top down, the cgroup's own processes before its children's, taken as by path, then
PID. So among equal points the later one ranks first; a footnote names the tie.
Not visible from /proc, so not applied: a task already exiting or reaped (MMF_OOM_SKIP), a
vfork child before its exec, a task in swapoff (killed first), a cgroup with swappiness 0 (no
swap added to its limit). On v1 only memory.limit_in_bytes is taken as a limit that fires, not
memory.memsw.limit_in_bytes (memory + swap), which can fire first on a host with swap.

Examples:
  oomwatch rank                         the whole host
  oomwatch rank -n 5 kubepods.slice     the five next victims of an OOM in the pods
  oomwatch rank --json system.slice/foo.service`;

/**
 * A cgroup's limit chain, the cgroup first, then each ancestor up to (not including) the root,
 * which never has a limit. stats().max is null for an unlimited cgroup (v2 `max`, v1 the huge
 * PAGE_COUNTER_MAX value). A v2 cgroup whose parent does not enable the memory controller has no
 * memory files: no limit at that level.
 */
function limitChain(backend: MemoryBackend, path: string): LimitLevel[] {
  if (path === '/') return [];
  const out: LimitLevel[] = [];
  for (const p of [path, ...ancestors(path).reverse()]) {
    try {
      const s = backend.stats(p);
      out.push({ cgroup: p, limitBytes: s.max, usageBytes: s.current, swapLimitBytes: s.swap_max });
    } catch (err) {
      if (err instanceof OomwatchError && err.code === 'ECONTROLLER') continue;
      throw err;
    }
  }
  return out;
}

const pagesKb = (pages: number, pageSize: number): number => (pages * pageSize) / 1024;

/** RAM + swap in use: total less what is available, for the header of a system OOM. */
function hostUsedKb(m: MemTotals): number | null {
  if (m.memAvailableKb === null) return null;
  return m.memTotalKb - m.memAvailableKb + (m.swapFreeKb === null ? 0 : m.swapTotalKb - m.swapFreeKb);
}

function header(d: OomDomain, pageSize: number, usedKb: number | null, weighed: number): string {
  const at = `${d.totalPages} pages (${formatKb(pagesKb(d.totalPages, pageSize))})`;
  const use = (kb: number | null) => (kb === null ? '' : `, ${formatKb(kb)} in use`);
  const who = d.scope === 'cgroup' ? `OOM in ${d.oomCgroup}: its limit ${formatKb((d.limitBytes as number) / 1024)}${use((d.usageBytes as number) / 1024)}` : `system OOM: RAM + swap${use(usedKb)}`;
  return `${who}; ${d.why}.\n${weighed} processes weighed against ${at}; POINTS in ‰ of that; → is killed first.\n`;
}

function adjCell(r: RankedCandidate): string {
  const moved = r.rank === null || r.rank_by_size === null ? 0 : r.rank_by_size - r.rank;
  return `${r.oom_score_adj}${moved > 0 ? ` ↑${moved}` : moved < 0 ? ` ↓${-moved}` : ''}`;
}

function table(rows: readonly RankedCandidate[], scope: OomDomain['scope']): string {
  const head = `  ${'RANK'.padStart(5)} ${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'POINTS'.padStart(7)} ${'ADJ'.padStart(10)} ${'RSS'.padStart(8)} ${'SWAP'.padStart(8)} ${'PGTABLES'.padStart(8)}  CGROUP`;
  const lines = rows.map(
    (r) =>
      `${r.rank === 1 ? '→' : ' '} ${(r.rank === null ? 'never' : String(r.rank)).padStart(5)} ${String(r.pid).padStart(8)} ${r.process.padEnd(16)} ${(r.points_permille === null ? '-' : r.points_permille.toFixed(1)).padStart(7)} ${adjCell(r).padStart(10)} ${formatKb(r.rss_kb).padStart(8)} ${formatKb(r.swap_kb).padStart(8)} ${formatKb(r.pgtables_kb).padStart(8)}  ${r.cgroup ?? '-'}`,
  );
  const notes: string[] = [];
  const ties = new Map<number, number[]>();
  for (const r of rows) if (r.tie && r.badness_pages !== null && r.rank !== null) ties.set(r.badness_pages, [...(ties.get(r.badness_pages) ?? []), r.rank]);
  const order = scope === 'system' ? 'PID' : 'cgroup path, then PID';
  for (const [pages, ranks] of ties) {
    notes.push(`ranks ${ranks.join(', ')} tie at ${pages} pages: the kernel kills the last it scans; taking its scan order as by ${order}, the later ranks first.`);
  }
  return `${[head, ...lines, ...notes].join('\n')}\n`;
}

export function registerRank(program: Command): void {
  program
    .command('rank')
    .description('who dies next: processes in the order the OOM killer would choose them')
    .argument('[name]', 'a memory cgroup, relative to the memory hierarchy root (default: the whole host)')
    .option('--json', 'print JSON: {"cgroup", "scope", "oom_cgroup", "why", "total_pages", "processes": [...]}')
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
        const layout = detectLayout(roots);
        const memoryV1 = layout.memory === null || layout.memory.version === 1;
        let levels: LimitLevel[] = [];
        let backend: MemoryBackend | undefined;
        if (path !== undefined) {
          backend = backendFor(layout);
          if (!backend.exists(path)) throw new NoSuchCgroupError(path, backend.dir(path), "list the cgroups with 'oomwatch cgroup ls'");
          levels = limitChain(backend, path);
        }
        const mem = readMemTotals(roots.proc);
        const pageSize = readPageSize(roots.proc);
        const domain = oomDomainOf(levels, { memTotalKb: mem.memTotalKb, swapTotalKb: mem.swapTotalKb, pageSize });
        const pids = domain.oomCgroup === null || backend === undefined ? listProcPids(roots.proc) : listCgroupPids(backend.dir(domain.oomCgroup));
        const candidates: Candidate[] = [];
        for (const pid of pids) {
          const c = readCandidate(roots.proc, pid, memoryV1);
          if (c !== undefined) candidates.push(c);
        }
        const all = rankCandidates(candidates, domain, pageSize);
        const ranked = top === undefined ? all : all.slice(0, top);
        if (opts.json) {
          printJson({
            cgroup: path ?? null,
            scope: domain.scope,
            oom_cgroup: domain.oomCgroup,
            why: domain.why,
            limit_kb: domain.limitBytes === null ? null : domain.limitBytes / 1024,
            usage_kb: domain.usageBytes === null ? hostUsedKb(mem) : domain.usageBytes / 1024,
            page_size: pageSize,
            total_pages: domain.totalPages,
            total_kb: pagesKb(domain.totalPages, pageSize),
            levels: levels.map((l) => ({
              cgroup: l.cgroup,
              limit_kb: l.limitBytes === null ? null : l.limitBytes / 1024,
              usage_kb: l.usageBytes / 1024,
            })),
            processes_weighed: all.length,
            processes: ranked,
          });
          return;
        }
        process.stdout.write(header(domain, pageSize, hostUsedKb(mem), all.length) + table(ranked, domain.scope));
      }),
    );
}
