import { Registry, type Metric } from 'prom-client';

/** Prometheus text format label value escaping (backslash, newline, double quote), as prom-client does. */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

interface Row<L extends string> {
  readonly labels: Record<L, string>;
  /** `name{label="value",...}`, formatted once when the series is created. */
  readonly head: string;
  value: number;
}

/**
 * One metric family with a series per cgroup (or per cgroup and event), registered in a prom-client
 * Registry like a Gauge or Counter and rendered by it, for tens of thousands of series whose labels
 * never change: each series' `name{labels}` is formatted once, when it is created. prom-client's own
 * Gauge hashes the label set on every set() and formats and escapes every label of every series
 * on every scrape (plus a cache miss per series in its shared-label cache): with 10,000 cgroups
 * that made a scrape cost hundreds of ms (bench/README.md). The output is the same text.
 *
 * The adapter: prom-client 15 has no documented way to hand a Registry text it need not format (a
 * Gauge's collect() still has every label formatted on every scrape). Its Registry renders any
 * registered object that has `name`, `help`, `type` and `get()`, and prefers an undocumented
 * `getForPromString()` when there is one, printing each value's `metricName` as given followed by
 * its labels. This class is the only place that relies on that; test/unit/collectors-seriesTable
 * fails when prom-client stops calling the hook or renders it differently from a Gauge. It needs a
 * registry without default labels (they would be printed after the head as a second label set).
 *
 * The value is whatever the kernel says: for a counter family it is the kernel's own counter (a
 * new cgroup under an old name starts again from its value, as a counter reset).
 */
export class SeriesTable<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  readonly aggregator = 'sum';
  private readonly rows = new Map<string, Row<L>>();

  constructor(opts: { name: string; help: string; type: 'gauge' | 'counter'; registers: readonly Registry[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.type = opts.type;
    for (const r of opts.registers) {
      // The preformatted heads are Prometheus text format: an OpenMetrics registry would append
      // `_total` to a counter's head after its labels.
      if (r.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) throw new TypeError(`${this.name}: SeriesTable renders only for ${Registry.PROMETHEUS_CONTENT_TYPE}, not ${r.contentType}`);
      r.registerMetric(this as unknown as Metric);
    }
  }

  /** Set the series `id` (the caller's key for this label set) to `value`. */
  set(id: string, labels: Record<L, string>, value: number): void {
    const row = this.rows.get(id);
    if (row !== undefined) {
      row.value = value;
      return;
    }
    const parts = Object.entries<string>(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    const head = parts.length === 0 ? this.name : `${this.name}{${parts.join(',')}}`;
    this.rows.set(id, { labels: { ...labels }, head, value });
  }

  remove(id: string): void {
    this.rows.delete(id);
  }

  /** Part of prom-client's Metric interface: Registry.resetMetrics() calls it. */
  reset(): void {
    this.rows.clear();
  }

  /** prom-client's MetricObject, with real labels (for getMetricsAsJSON and tests). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<L, string>; value: number }[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.rows.values()].map((r) => ({ labels: r.labels, value: r.value })) };
  }

  /**
   * What Registry.metrics() renders: each series as its preformatted head (prom-client prints
   * `metricName` as given) with no labels left to format; one shared empty object for the labels,
   * so prom-client's per-object shared-label cache hits.
   */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string>; sharedLabels: Record<string, string>; value: number }[] }> {
    const values = [];
    for (const r of this.rows.values()) values.push({ metricName: r.head, labels: NO_LABELS, sharedLabels: NO_LABELS, value: r.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
