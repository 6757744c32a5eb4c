import type { MemorySample } from '../cgroup/sampler.js';
import type { EarlyWarner } from './earlyWarning.js';

/**
 * Samples the cgroups in danger (EarlyWarner.inDanger) every `fastPollMs` between polls, so a
 * warning is not held back by the poll interval. Its timer runs only while some cgroup is in danger:
 * no wakeups on a quiet host.
 */
export class FastSampler {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly early: Pick<EarlyWarner, 'inDanger' | 'observe'>,
    private readonly sampleNow: (path: string) => MemorySample | undefined,
    private readonly now: () => number,
    /** The faster period and the poll's, as the config has them now. */
    private readonly periods: () => { fastPollMs: number; pollIntervalMs: number },
  ) {}

  /** Start or stop the timer as the cgroups in danger and the config say (after each poll). */
  update(): void {
    const { fastPollMs: ms, pollIntervalMs } = this.periods();
    const want = ms > 0 && ms < pollIntervalMs && this.early.inDanger().size > 0 && !this.stopped;
    if (want && this.timer === null) {
      this.timer = setInterval(() => {
        const now = this.now();
        for (const path of [...this.early.inDanger()]) {
          const s = this.sampleNow(path);
          if (s !== undefined) this.early.observe(path, s, now);
        }
        if (this.early.inDanger().size === 0) this.update();
      }, ms);
    } else if (!want && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
