import type { Logger } from 'pino';
import type { MemoryBackend } from '../cgroup/backend.js';
import type { OomKillEvent } from '../oom/event.js';
import { readEvidence, type Evidence } from './evidence.js';
import type { HookRunner } from './hooks.js';

/**
 * What is left in a cgroup when a warning fires or a kill happens (its memory.stat breakdown and
 * top processes, evidence.ts), and the kill's `oom_kill_evidence` line and kill hook.
 */
export class KillEvidence {
  private readonly last = new Map<string, { at: number; evidence: Evidence }>();

  constructor(
    private readonly backend: MemoryBackend,
    private readonly procRoot: string,
    private readonly log: Logger,
    private readonly hooks: Pick<HookRunner, 'run'>,
  ) {}

  /** The evidence in `path`, read now. */
  read(path: string): Evidence {
    return readEvidence(this.backend.dir(path), this.procRoot, this.backend.version);
  }

  /**
   * After a kill is counted and logged: the evidence left in its cgroup, and the kill hook, on a
   * later turn of the event loop, so the next kernel log record is not held up.
   */
  killed(e: OomKillEvent): void {
    const cgroup = e.oom_cgroup ?? e.victim_cgroup;
    setImmediate(() => {
      const ev = cgroup === null ? null : this.forKill(cgroup);
      const fields = { cgroup, pid: e.pid, process: e.process, seq: e.seq, victim_cgroup: e.victim_cgroup, oom_cgroup: e.oom_cgroup, unit: e.unit, container_id: e.container_id, pod_uid: e.pod_uid, anon_rss_kb: e.anon_rss_kb, oom_score_adj: e.oom_score_adj, ...ev };
      this.log.info({ event: 'oom_kill_evidence', ...fields }, `evidence in cgroup ${cgroup ?? '(unknown)'} after the OOM kill of ${e.process} (pid ${e.pid})`);
      this.hooks.run('kill', { event: 'oom_kill', ...fields });
    });
  }

  /**
   * A kill's evidence, read at most once a second per cgroup: in a storm (a hundred kills in one
   * cgroup within a second) the kills after the first share its reading rather than walking /proc
   * a hundred times between kernel log records.
   */
  private forKill(cgroup: string): Evidence {
    const now = performance.now();
    const last = this.last.get(cgroup);
    if (last !== undefined && now - last.at < 1000) return last.evidence;
    const evidence = this.read(cgroup);
    this.last.set(cgroup, { at: now, evidence });
    if (this.last.size > 64) for (const [k, v] of this.last) if (now - v.at >= 1000) this.last.delete(k);
    return evidence;
  }
}
