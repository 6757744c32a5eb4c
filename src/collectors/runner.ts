import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { Collector } from './collector.js';

/** A collector's last run: ok, or the error it threw. */
export interface CollectorStatus {
  ok: boolean;
  error: string | null;
}

/**
 * Runs the registered collectors once per poll, each timed and guarded (node_exporter's
 * collector.go): oomwatch_collector_success{collector} is 1 or 0 and
 * oomwatch_collector_duration_seconds{collector} how long its last run took. A collector that
 * throws fails neither the others nor the scrape; its error is logged once per distinct message,
 * and its recovery once.
 */
export class CollectorRunner {
  private readonly success: Gauge<'collector'>;
  private readonly duration: Gauge<'collector'>;
  /** The last run's error by collector (null: it worked); absent before its first run. */
  private readonly errors = new Map<string, string | null>();

  private readonly collectors: Collector[] = [];

  constructor(
    registry: Registry,
    private readonly log: Logger,
  ) {
    const registers = [registry];
    this.success = new Gauge({ name: 'oomwatch_collector_success', help: '1 when the collector\'s last run succeeded', labelNames: ['collector'] as const, registers });
    this.duration = new Gauge({ name: 'oomwatch_collector_duration_seconds', help: 'How long the collector\'s last run took', labelNames: ['collector'] as const, registers });
  }

  /** Register collectors: each poll runs them in the order they were added. */
  add(...collectors: readonly Collector[]): void {
    this.collectors.push(...collectors);
  }

  /**
   * Every collector once, in order; a collector with updateInSlices yields to the event loop in
   * between. Returns false when `stopping()` turned true mid-way (the rest was not run).
   */
  async run(now: number, stopping: () => boolean): Promise<boolean> {
    for (const c of this.collectors) {
      const t0 = process.hrtime.bigint();
      try {
        if (c.updateInSlices === undefined) c.update(now);
        else await c.updateInSlices(now, stopping);
        if (stopping()) return false;
        this.success.set({ collector: c.name }, 1);
        if (this.errors.get(c.name)) this.log.info({ event: 'collector_recovered', collector: c.name }, `collector ${c.name} works again`);
        this.errors.set(c.name, null);
      } catch (err) {
        this.success.set({ collector: c.name }, 0);
        const msg = err instanceof Error ? err.message : String(err);
        if (this.errors.get(c.name) !== msg) this.log.error({ event: 'collector_failed', collector: c.name, err: msg }, `collector ${c.name} failed: ${msg}`);
        this.errors.set(c.name, msg);
      }
      this.duration.set({ collector: c.name }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return true;
  }

  /** Each registered collector's last run (ok until its first run fails). */
  status(): Record<string, CollectorStatus> {
    const out: Record<string, CollectorStatus> = {};
    for (const c of this.collectors) {
      const err = this.errors.get(c.name) ?? null;
      out[c.name] = { ok: err === null, error: err };
    }
    return out;
  }
}
