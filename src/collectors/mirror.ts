import type { Counter } from 'prom-client';

/**
 * Mirrors a kernel counter (which only the kernel increments) into a prom-client Counter, which
 * can only be incremented: each sample adds the difference to the last one. A value below the
 * last one means the kernel object was recreated under the same name; the series starts again
 * from that value.
 */
export class CounterMirror<L extends string> {
  private readonly last = new Map<string, number>();
  constructor(private readonly counter: Counter<L>) {}

  set(labels: Record<L, string>, value: number, id = JSON.stringify(labels)): void {
    const prev = this.last.get(id);
    if (prev === undefined || value < prev) {
      if (prev !== undefined) this.counter.remove(labels);
      this.counter.inc(labels, value);
    } else if (value > prev) {
      this.counter.inc(labels, value - prev);
    }
    this.last.set(id, value);
  }

  remove(labels: Record<L, string>, id = JSON.stringify(labels)): void {
    if (this.last.delete(id)) this.counter.remove(labels);
  }
}
