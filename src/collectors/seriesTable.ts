import type { Metric, Registry } from 'prom-client';

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
    // prom-client renders any registered object with name, type and get()/getForPromString().
    for (const r of opts.registers) r.registerMetric(this as unknown as Metric);
  }

  /** Set the series `id` (the caller's key for this label set) to `value`. */
  set(id: string, labels: Record<L, string>, value: number): void {
    const row = this.rows.get(id);
    if (row !== undefined) {
      row.value = value;
      return;
    }
    const parts = Object.entries<string>(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    this.rows.set(id, { labels: { ...labels }, head: `${this.name}{${parts.join(',')}}`, value });
  }

  remove(id: string): void {
    this.rows.delete(id);
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

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
