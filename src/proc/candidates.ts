import { readFileSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import { parseProcCgroup } from '../cgroup/procCgroup.js';
import { readOomScore, readOomScoreAdj } from './oomScore.js';
import { readProcStatus } from './status.js';

/**
 * One process's OOM-relevant state as read from /proc/<pid>/{status,oom_score,oom_score_adj,cgroup}.
 * Sizes in kB, as /proc/<pid>/status reports them.
 */
export interface Candidate {
  readonly pid: number;
  readonly process: string;
  readonly uid: number | null;
  /**
   * /proc/<pid>/oom_score: the kernel's view for a system-wide OOM only (fs/proc/base.c
   * proc_oom_score, 5.9+: (1000 + badness × 1000 / (RAM + swap pages)) × 2 / 3); it says nothing
   * of a cgroup's OOM, where the same badness is weighed against the cgroup's limit.
   */
  readonly system_oom_score: number;
  readonly oom_score_adj: number;
  readonly rss_kb: number;
  readonly rss_anon_kb: number | null;
  readonly rss_file_kb: number | null;
  readonly rss_shmem_kb: number | null;
  readonly swap_kb: number;
  readonly pgtables_kb: number;
  /** The process's memory cgroup (/proc/<pid>/cgroup), null when unknown. */
  readonly cgroup: string | null;
}

/** Every numeric entry of `<proc>`: the host's processes (thread group leaders). */
export function listProcPids(procRoot: string): number[] {
  return readdirSync(procRoot)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * The processes of a cgroup and of every cgroup below it (an OOM in a cgroup chooses among its
 * whole subtree): `cgroup.procs` of each directory (Documentation/admin-guide/cgroup-v1/cgroups.rst,
 * cgroup-v2.rst "cgroup.procs"). A directory removed while we walk is skipped.
 */
export function listCgroupPids(dir: string): number[] {
  const out = new Set<number>();
  const walk = (d: string): void => {
    let text: string;
    let entries: Dirent[];
    try {
      text = readFileSync(join(d, 'cgroup.procs'), 'utf8');
      entries = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      // ENOENT/ENODEV: the cgroup was removed while we walked it.
      if (isErrno(err, 'ENOENT', 'ENODEV')) return;
      throw err;
    }
    for (const line of text.split('\n')) if (/^\d+$/.test(line)) out.add(Number(line));
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return [...out].sort((a, b) => a - b);
}

/**
 * Read one process's OOM-relevant state from `<proc>/<pid>/{status,oom_score,oom_score_adj,cgroup}`.
 * Undefined for a process that vanished while we read it, and for kernel threads and zombies
 * (no memory map: never an OOM victim). `memoryV1` picks the cgroup line: the v1 line that lists
 * `memory`, else the v2 `0::` line.
 */
export function readCandidate(procRoot: string, pid: number, memoryV1: boolean): Candidate | undefined {
  try {
    const st = readProcStatus(procRoot, pid);
    if (st.kthread) return undefined;
    const oomScore = readOomScore(procRoot, pid);
    const adj = readOomScoreAdj(procRoot, pid);
    const file = join(procRoot, String(pid), 'cgroup');
    const entries = parseProcCgroup(readFileSync(file, 'utf8'), file);
    const entry = memoryV1
      ? entries.find((e) => e.controllers.includes('memory'))
      : entries.find((e) => e.hierarchyId === 0);
    return {
      pid,
      process: st.name,
      uid: st.uid ?? null,
      system_oom_score: oomScore,
      oom_score_adj: adj,
      rss_kb: st.vmRssKb ?? 0,
      rss_anon_kb: st.rssAnonKb ?? null,
      rss_file_kb: st.rssFileKb ?? null,
      rss_shmem_kb: st.rssShmemKb ?? null,
      swap_kb: st.vmSwapKb ?? 0,
      pgtables_kb: st.vmPteKb ?? 0,
      cgroup: entry?.path ?? null,
    };
  } catch (err) {
    // ENOENT/ESRCH: the process exited between listing and reading; that is no error.
    if (isErrno(err, 'ENOENT', 'ESRCH')) return undefined;
    throw err;
  }
}
