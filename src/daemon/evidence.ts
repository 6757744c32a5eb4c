/**
 * The evidence of a warning or a kill, read at that moment because it is gone soon after: the
 * cgroup's memory.stat breakdown and its (and its descendants') top processes by RSS, with their
 * oom_score_adj. Read once per warning or kill, never at a poll.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { statBreakdown } from '../cgroup/files/memoryStat.js';
import { listCgroupPids } from '../proc/candidates.js';
import { readOomScoreAdj } from '../proc/oomScore.js';
import { readProcStatus } from '../proc/status.js';
import { isErrno } from '../errors.js';

export interface EvidenceProcess {
  readonly pid: number;
  readonly name: string;
  readonly rss_bytes: number;
  readonly oom_score_adj: number | null;
}

export interface Evidence {
  /** memory.stat keys (bytes; v1 hierarchical `total_*`), null when it could not be read. */
  readonly memory_stat: Record<string, number> | null;
  /** The largest processes by RSS, largest first. */
  readonly top_processes: EvidenceProcess[];
  /** How many processes the cgroup and its descendants held. */
  readonly process_count: number;
  /** What could not be read (the cgroup is gone, ...), null when all was. */
  readonly evidence_error: string | null;
}

export const TOP_PROCESSES = 5;

/**
 * Read the evidence of cgroup `dir` (its directory on the memory hierarchy) from the kernel now.
 * Processes that exit while we read are skipped; a cgroup that is gone gives an empty list and
 * says so in `evidence_error`.
 */
export function readEvidence(dir: string, procRoot: string, version: 1 | 2, top = TOP_PROCESSES): Evidence {
  let memoryStat: Record<string, number> | null = null;
  let error: string | null = null;
  try {
    memoryStat = statBreakdown(readFileSync(join(dir, 'memory.stat'), 'latin1'), version);
  } catch (err) {
    error = `cannot read ${join(dir, 'memory.stat')}: ${(err as Error).message}`;
  }
  let pids: number[] = [];
  try {
    pids = listCgroupPids(dir);
  } catch (err) {
    error ??= `cannot list the processes of ${dir}: ${(err as Error).message}`;
  }
  const procs: EvidenceProcess[] = [];
  for (const pid of pids) {
    try {
      const st = readProcStatus(procRoot, pid);
      if (st.kthread) continue;
      let adj: number | null = null;
      try {
        adj = readOomScoreAdj(procRoot, pid);
      } catch (err) {
        if (!isErrno(err, 'ENOENT', 'ESRCH')) throw err;
      }
      procs.push({ pid, name: st.name, rss_bytes: (st.vmRssKb ?? 0) * 1024, oom_score_adj: adj });
    } catch (err) {
      // The process exited between the listing and the read.
      if (isErrno(err, 'ENOENT', 'ESRCH')) continue;
      error ??= `cannot read process ${pid}: ${(err as Error).message}`;
    }
  }
  procs.sort((a, b) => b.rss_bytes - a.rss_bytes || a.pid - b.pid);
  return { memory_stat: memoryStat, top_processes: procs.slice(0, top), process_count: procs.length, evidence_error: error };
}
