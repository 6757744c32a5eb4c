import type { Logger } from 'pino';
import type { MemorySample } from '../cgroup/sampler.js';

export interface NearLimitThresholds {
  /** Warn when working set / limit reaches this ratio... */
  readonly workingSetRatio: number;
  /** ...and warn again only after it went below `workingSetRatio - hysteresis`. */
  readonly hysteresis: number;
}

/**
 * Logs `near_limit` when a cgroup's working set reaches a share of its hard limit, once, and
 * `near_limit_cleared` when it has gone back below that share less the hysteresis: a cgroup that
 * hovers at the threshold does not log at every poll. Cgroups without a limit are never near it.
 */
export class NearLimitWarner {
  /** Per cgroup, whether the next crossing warns (absent: armed). */
  private readonly armed = new Map<string, boolean>();

  constructor(
    private thresholds: NearLimitThresholds,
    private readonly log: Logger,
  ) {}

  setThresholds(t: NearLimitThresholds): void {
    this.thresholds = t;
  }

  observe(path: string, s: Pick<MemorySample, 'workingSet' | 'max'>): void {
    if (s.max === null || s.max === 0) return;
    const ratio = s.workingSet / s.max;
    const { workingSetRatio, hysteresis } = this.thresholds;
    const armed = this.armed.get(path) ?? true;
    if (armed && ratio >= workingSetRatio) {
      this.armed.set(path, false);
      this.log.warn(
        { event: 'near_limit', cgroup: path, working_set_bytes: s.workingSet, limit_bytes: s.max, ratio: Number(ratio.toFixed(4)), threshold: workingSetRatio },
        `cgroup ${path} working set is at ${(ratio * 100).toFixed(1)}% of its limit`,
      );
    } else if (!armed && ratio < workingSetRatio - hysteresis) {
      this.armed.set(path, true);
      this.log.info({ event: 'near_limit_cleared', cgroup: path, ratio: Number(ratio.toFixed(4)) }, `cgroup ${path} is back below ${((workingSetRatio - hysteresis) * 100).toFixed(0)}% of its limit`);
    }
  }

  /** The cgroup is gone: one of the same name later starts armed. */
  forget(path: string): void {
    this.armed.delete(path);
  }
}
