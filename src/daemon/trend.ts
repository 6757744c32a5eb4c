/**
 * Pure rules over a cgroup's recent samples, one per early-warning signal (no I/O, no clock: the
 * caller gives each sample its time). The early warner (earlyWarning.ts) keeps one of each per
 * cgroup with a limit in effect.
 */

export interface TrendOptions {
  /** Samples older than this (seconds before the newest) leave the fit. */
  readonly windowS: number;
  /** At most this many samples in the fit (the newest). */
  readonly maxSamples: number;
  /** A fit needs this many samples... */
  readonly minSamples: number;
  /** ...spanning at least this many seconds. */
  readonly minSpanS: number;
  /**
   * A drop by more than this many bytes from the previous sample starts the trend afresh (a
   * process exited, was killed, or freed memory: the old slope says nothing about the new state).
   */
  readonly resetDropBytes: number;
  /** Growing means the fitted rise over the samples' span is at least this many bytes... */
  readonly minRiseBytes: number;
  /** ...and the fit explains at least this share of the variance (R²): steps and jitter are no trend. */
  readonly minR2: number;
}

export const DEFAULT_TREND: TrendOptions = Object.freeze({
  windowS: 10,
  maxSamples: 40,
  minSamples: 3,
  minSpanS: 1,
  resetDropBytes: 1024 * 1024,
  minRiseBytes: 1024 * 1024,
  minR2: 0.8,
});

export interface TrendFit {
  /** Bytes per second, least squares over the window. */
  readonly slope: number;
  readonly r2: number;
  readonly samples: number;
  readonly spanS: number;
  /** Whether the series grows by the options' standard (rise and R²). */
  readonly growing: boolean;
}

/**
 * A series of (time s, bytes) with an ordinary least-squares slope over the last `windowS`
 * seconds (at most `maxSamples`), from the last minimum in them on. Resets on a drop larger than
 * `resetDropBytes`, and on time going backwards.
 */
export class Trend {
  private readonly t: number[] = [];
  private readonly v: number[] = [];

  constructor(private readonly o: TrendOptions = DEFAULT_TREND) {}

  add(tS: number, bytes: number): void {
    const n = this.t.length;
    if (n > 0) {
      const lastT = this.t[n - 1] as number;
      const lastV = this.v[n - 1] as number;
      if (tS <= lastT || lastV - bytes > this.o.resetDropBytes) this.reset();
    }
    this.t.push(tS);
    this.v.push(bytes);
    while (this.t.length > this.o.maxSamples || tS - (this.t[0] as number) > this.o.windowS) {
      this.t.shift();
      this.v.shift();
    }
  }

  reset(): void {
    this.t.length = 0;
    this.v.length = 0;
  }

  get last(): number | undefined {
    return this.v[this.v.length - 1];
  }

  /** The fit, or undefined while there are too few samples or too short a span. */
  fit(): TrendFit | undefined {
    // The fit starts at the window's last minimum: a leak that begins after a flat stretch is fitted
    // from its start, not diluted by the flat samples before it (which would halve its slope and
    // delay the warning by seconds). Jitter smaller than minRiseBytes still never grows.
    let from = 0;
    for (let i = 1; i < this.v.length; i++) if ((this.v[i] as number) <= (this.v[from] as number)) from = i;
    // A series at its minimum now (flat, or falling) keeps minSamples: the fit says it is not growing.
    from = Math.max(0, Math.min(from, this.v.length - this.o.minSamples));
    const n = this.t.length - from;
    if (n < this.o.minSamples) return undefined;
    const t0 = this.t[from] as number;
    const spanS = (this.t[this.t.length - 1] as number) - t0;
    if (spanS < this.o.minSpanS) return undefined;
    let st = 0, sv = 0;
    for (let i = from; i < this.t.length; i++) {
      st += (this.t[i] as number) - t0;
      sv += this.v[i] as number;
    }
    const mt = st / n, mv = sv / n;
    let stt = 0, stv = 0, svv = 0;
    for (let i = from; i < this.t.length; i++) {
      const dt = (this.t[i] as number) - t0 - mt;
      const dv = (this.v[i] as number) - mv;
      stt += dt * dt;
      stv += dt * dv;
      svv += dv * dv;
    }
    const slope = stt === 0 ? 0 : stv / stt;
    // A flat series explains nothing and needs nothing explained: R² 0, and not growing.
    const r2 = svv === 0 || stt === 0 ? 0 : (stv * stv) / (stt * svv);
    return { slope, r2, samples: n, spanS, growing: slope > 0 && slope * spanS >= this.o.minRiseBytes && r2 >= this.o.minR2 };
  }
}

/**
 * Seconds until `bytes` reaches `limit` at the fitted slope, or undefined when the series is not
 * growing (no forecast: the gauge is absent). 0 when already at or past the limit.
 */
export function secondsToLimit(fit: TrendFit | undefined, bytes: number, limit: number): number | undefined {
  if (fit === undefined || !fit.growing) return undefined;
  return Math.max(0, (limit - bytes) / fit.slope);
}

/** A hysteresis on a forecast: fires at `horizonS`, clears past `horizonS × (1 + hysteresis)` or without a forecast. */
export function predictionState(active: boolean, seconds: number | undefined, horizonS: number, hysteresis: number): boolean {
  if (seconds === undefined) return false;
  if (!active) return seconds <= horizonS;
  return seconds <= horizonS * (1 + hysteresis);
}

export interface SustainedOptions {
  /** The value must be at least this... */
  readonly threshold: number;
  /** ...for this many seconds without a break... */
  readonly forS: number;
}

/**
 * "Above X for D seconds and not falling" (the shape of oomd's pressure rules): fires once the
 * value has stayed ≥ threshold for `forS` seconds and `notFalling` holds at that sample; stays
 * active while the value is ≥ threshold; clears at the first sample below it. Pure state machine.
 */
export class SustainedRule {
  /** When the current run above the threshold began (s), or undefined. */
  private since: number | undefined;
  private on = false;

  constructor(private o: SustainedOptions) {}

  setOptions(o: SustainedOptions): void {
    this.o = o;
  }

  get active(): boolean {
    return this.on;
  }

  /** Feed one sample; returns 'fire' or 'clear' when the state changes, else undefined. */
  observe(tS: number, value: number, notFalling: boolean): 'fire' | 'clear' | undefined {
    if (value < this.o.threshold) {
      this.since = undefined;
      if (this.on) {
        this.on = false;
        return 'clear';
      }
      return undefined;
    }
    this.since ??= tS;
    if (!this.on && tS - this.since >= this.o.forS && notFalling) {
      this.on = true;
      return 'fire';
    }
    return undefined;
  }

  reset(): void {
    this.since = undefined;
    this.on = false;
  }
}

/**
 * The rate of a kernel counter (events per second) over the last `windowS` seconds: v2
 * memory.events high + max, v1 memory.failcnt. A counter that goes down (the cgroup was recreated)
 * starts afresh. undefined until two samples span some time.
 */
export class CounterRate {
  private readonly t: number[] = [];
  private readonly c: number[] = [];

  constructor(private readonly windowS: number) {}

  add(tS: number, count: number): number | undefined {
    const n = this.t.length;
    if (n > 0 && (count < (this.c[n - 1] as number) || tS <= (this.t[n - 1] as number))) {
      this.t.length = 0;
      this.c.length = 0;
    }
    this.t.push(tS);
    this.c.push(count);
    // Keep one sample at or before the window's start, so the rate covers the whole window.
    while (this.t.length > 2 && tS - (this.t[1] as number) >= this.windowS) {
      this.t.shift();
      this.c.shift();
    }
    const m = this.t.length;
    if (m < 2) return undefined;
    const dt = tS - (this.t[0] as number);
    return dt <= 0 ? undefined : (count - (this.c[0] as number)) / dt;
  }
}
