/**
 * The early warner: three signals per cgroup under a limit, each a pure rule of trend.ts fed by
 * the poll's samples (and by the faster poll of the cgroups in danger, see `inDanger`):
 * - `oom_predicted`: the least-squares trend of what reclaim cannot free (anon + shmem +
 *   unreclaimable kernel memory, unreclaimableBytes) reaches the limit in effect within the
 *   horizon; cleared past the horizon × (1 + hysteresis) or when the trend stops.
 * - `limit_reclaim`: the cgroup is pinned at its limit and reclaiming (v2 memory.events high + max,
 *   v1 memory.failcnt, at least a rate for a duration) while at least a share of the limit is
 *   unreclaimable: reclaim finds less and less to take.
 * - `memory_pressure` (v2 PSI): memory.pressure avg10 above a threshold for a duration and not
 *   falling (avg10 ≥ avg60), the shape of oomd's rules.
 * Page cache is in none of them: a cgroup full of clean file pages is never in danger.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { hierarchicalMemoryLimit, unreclaimableBytes } from '../cgroup/files/memoryStat.js';
import type { MemorySample } from '../cgroup/sampler.js';
import { SeriesTable } from '../collectors/seriesTable.js';
import type { EarlyWarnConfig } from './config.js';
import { CounterRate, DEFAULT_TREND, SustainedRule, Trend, predictionState, secondsToLimit } from './trend.js';

export type WarningSignal = 'oom_predicted' | 'limit_reclaim' | 'memory_pressure';
export const WARNING_SIGNALS: readonly WarningSignal[] = ['oom_predicted', 'limit_reclaim', 'memory_pressure'];

/** What every warning's log line holds, with the signal's own figures. */
export interface WarningFields {
  readonly cgroup: string;
  readonly limit_bytes: number;
  readonly unreclaimable_bytes: number;
  readonly usage_bytes: number;
  readonly [k: string]: unknown;
}

/** A warning as it fires: the log line's fields (the daemon adds the evidence and runs the hook). */
export type Warning = WarningFields & { readonly event: WarningSignal };

interface CgState {
  readonly trend: Trend;
  readonly reclaim: CounterRate;
  readonly reclaimRule: SustainedRule;
  readonly pressureRule: SustainedRule;
  predicted: boolean;
  danger: boolean;
  /** Last exported values (undefined: not exported). */
  xUnreclaimable?: number;
  xLimit?: number;
  xSeconds?: number | undefined;
}

export class EarlyWarner {
  /** Each watched cgroup's own hard limit (null: none), for the v2 limit in effect. */
  private readonly ownMax = new Map<string, number | null>();
  private readonly state = new Map<string, CgState>();
  private readonly danger = new Set<string>();
  private readonly unreclaimable: SeriesTable<'cgroup'>;
  private readonly limitInEffect: SeriesTable<'cgroup'>;
  private readonly seconds: SeriesTable<'cgroup'>;
  private readonly active: SeriesTable<'cgroup' | 'signal'>;

  constructor(
    private cfg: EarlyWarnConfig,
    private readonly version: 1 | 2,
    registry: Registry,
    private readonly log: Logger,
    /** The evidence put in a warning's log line, read when it fires (evidence.ts). */
    private readonly evidence: (path: string) => object,
    /** A warning fired (after its log line): the hook. */
    private readonly onWarning: (w: Warning) => void,
  ) {
    const registers = [registry];
    this.unreclaimable = new SeriesTable({ name: 'oomwatch_cgroup_memory_unreclaimable_bytes', help: 'Memory reclaim cannot free (anon + shmem, and on v2 unreclaimable kernel memory); only for cgroups under a limit', type: 'gauge', registers });
    this.limitInEffect = new SeriesTable({ name: 'oomwatch_cgroup_memory_limit_in_effect_bytes', help: "The hard limit that applies: the cgroup's own or its nearest limited ancestor's, whichever is lower", type: 'gauge', registers });
    this.seconds = new SeriesTable({ name: 'oomwatch_cgroup_memory_seconds_to_limit', help: 'Seconds until unreclaimable memory reaches the limit in effect at its recent trend; absent while it is not growing', type: 'gauge', registers });
    this.active = new SeriesTable({ name: 'oomwatch_cgroup_memory_warning', help: 'An early warning is active for the cgroup (signal = oom_predicted | limit_reclaim | memory_pressure); absent otherwise', type: 'gauge', registers });
  }

  setConfig(cfg: EarlyWarnConfig): void {
    this.cfg = cfg;
    // New windows and thresholds start from fresh series.
    for (const path of [...this.state.keys()]) this.drop(path);
  }

  /** The cgroups worth sampling between polls (see EarlyWarnConfig.fastPollMs). */
  inDanger(): ReadonlySet<string> {
    return this.danger;
  }

  private limitFor(path: string, s: MemorySample): number | null {
    if (this.version === 1 && s.stat !== null) {
      const h = hierarchicalMemoryLimit(s.stat);
      if (h !== undefined) return h;
    }
    let limit = s.max;
    for (let p = parentOf(path); p !== undefined; p = parentOf(p)) {
      const m = this.ownMax.get(p);
      if (m !== undefined && m !== null && (limit === null || m < limit)) limit = m;
    }
    return limit;
  }

  observe(path: string, s: MemorySample, nowMs: number): void {
    if (this.version === 2) this.ownMax.set(path, s.max);
    const limit = this.limitFor(path, s);
    if (limit === null || limit === 0) {
      if (this.state.has(path)) this.drop(path);
      return;
    }
    const unrec = s.stat === null ? 0 : (unreclaimableBytes(s.stat, this.version) ?? 0);
    let st = this.state.get(path);
    if (st === undefined) {
      const c = this.cfg;
      st = {
        trend: new Trend({ ...DEFAULT_TREND, windowS: c.trendWindowS }),
        reclaim: new CounterRate(Math.max(1, c.limitReclaim.forS / 2)),
        reclaimRule: new SustainedRule({ threshold: c.limitReclaim.perSecond, forS: c.limitReclaim.forS }),
        pressureRule: new SustainedRule({ threshold: c.pressure.avg10, forS: c.pressure.forS }),
        predicted: false,
        danger: false,
      };
      this.state.set(path, st);
    }
    const tS = nowMs / 1000;
    const cgroup = { cgroup: path };
    if (st.xUnreclaimable !== unrec) this.unreclaimable.set(path, cgroup, (st.xUnreclaimable = unrec));
    if (st.xLimit !== limit) this.limitInEffect.set(path, cgroup, (st.xLimit = limit));
    const base = { cgroup: path, limit_bytes: limit, unreclaimable_bytes: unrec, usage_bytes: s.current };

    // Time to the limit.
    const prev = st.trend.last;
    st.trend.add(tS, unrec);
    const fit = st.trend.fit();
    const secs = secondsToLimit(fit, unrec, limit);
    const shown = secs === undefined ? undefined : Number(secs.toFixed(2));
    if (st.xSeconds !== shown) {
      if (shown === undefined) this.seconds.remove(path);
      else this.seconds.set(path, cgroup, shown);
      st.xSeconds = shown;
    }
    const { horizonS, hysteresis } = this.cfg;
    const predicted = predictionState(st.predicted, secs, horizonS, hysteresis);
    if (predicted !== st.predicted) {
      st.predicted = predicted;
      if (predicted && fit !== undefined && secs !== undefined) {
        this.fire('oom_predicted', { ...base, seconds_to_limit: Number(secs.toFixed(2)), growth_bytes_per_second: Math.round(fit.slope), horizon_s: horizonS, trend_samples: fit.samples, trend_span_s: Number(fit.spanS.toFixed(2)), r2: Number(fit.r2.toFixed(3)) },
          `cgroup ${path} will reach its limit in ${secs.toFixed(1)} s at ${(fit.slope / 2 ** 20).toFixed(1)} MiB/s of memory reclaim cannot free`);
      } else {
        this.clear('oom_predicted', path, { ...base, seconds_to_limit: shown ?? null }, `cgroup ${path} is no longer predicted to reach its limit within ${horizonS} s`);
      }
    }

    // Reclaim at the limit.
    const hits = (s.events.high ?? 0) + (s.events.max ?? 0);
    const rate = st.reclaim.add(tS, hits) ?? 0;
    const lr = this.cfg.limitReclaim;
    const share = unrec / limit;
    const r = st.reclaimRule.observe(tS, share >= lr.unreclaimableRatio ? rate : 0, true);
    if (r === 'fire') {
      this.fire('limit_reclaim', { ...base, reclaims_per_second: Number(rate.toFixed(2)), unreclaimable_ratio: Number(share.toFixed(4)), for_s: lr.forS, counter: this.version === 1 ? 'memory.failcnt' : 'memory.events high+max' },
        `cgroup ${path} is pinned at its limit and reclaiming (${rate.toFixed(1)}/s for ${lr.forS} s) with ${(share * 100).toFixed(0)}% of it unreclaimable`);
    } else if (r === 'clear') {
      this.clear('limit_reclaim', path, { ...base, reclaims_per_second: Number(rate.toFixed(2)) }, `cgroup ${path} is no longer pinned at its limit`);
    }

    // Pressure (v2 PSI).
    const line = s.pressure === null ? null : s.pressure[this.cfg.pressure.kind];
    if (line !== null) {
      const pr = this.cfg.pressure;
      const p = st.pressureRule.observe(tS, line.avg10, line.avg10 >= line.avg60);
      if (p === 'fire') {
        this.fire('memory_pressure', { ...base, kind: pr.kind, avg10: line.avg10, avg60: line.avg60, threshold: pr.avg10, for_s: pr.forS },
          `cgroup ${path}: tasks stalled on memory ${line.avg10}% of the last 10 s (${pr.kind}), above ${pr.avg10}% for ${pr.forS} s and not falling`);
      } else if (p === 'clear') {
        this.clear('memory_pressure', path, { ...base, kind: pr.kind, avg10: line.avg10 }, `cgroup ${path}: memory pressure is back below ${pr.avg10}%`);
      }
    }

    // Danger: sample between polls while a warning is on or may come soon.
    const rising = prev !== undefined && unrec - prev >= DEFAULT_TREND.minRiseBytes;
    const danger =
      st.predicted || st.reclaimRule.active || st.pressureRule.active || rising ||
      (secs !== undefined && secs <= 4 * horizonS) || (rate > 0 && share >= lr.unreclaimableRatio) ||
      (line !== null && line.avg10 >= this.cfg.pressure.avg10);
    if (danger !== st.danger) {
      st.danger = danger;
      if (danger) this.danger.add(path);
      else this.danger.delete(path);
    }
  }

  private fire(signal: WarningSignal, fields: WarningFields, msg: string): void {
    this.active.set(`${fields.cgroup}\0${signal}`, { cgroup: fields.cgroup, signal }, 1);
    const w: Warning = { ...fields, ...this.evidence(fields.cgroup), event: signal };
    this.log.warn(w, msg);
    this.onWarning(w);
  }

  private clear(signal: WarningSignal, path: string, fields: Record<string, unknown>, msg: string): void {
    this.active.remove(`${path}\0${signal}`);
    this.log.info({ ...fields, event: `${signal}_cleared` }, msg);
  }

  private drop(path: string): void {
    this.state.delete(path);
    this.danger.delete(path);
    this.unreclaimable.remove(path);
    this.limitInEffect.remove(path);
    this.seconds.remove(path);
    for (const s of WARNING_SIGNALS) this.active.remove(`${path}\0${s}`);
  }

  /** The cgroup is gone: its series go, one of the same name later starts afresh. */
  forget(path: string): void {
    this.ownMax.delete(path);
    this.drop(path);
  }
}

/** `/a/b` → `/a`, `/a` → `/`, `/` → undefined. */
function parentOf(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
