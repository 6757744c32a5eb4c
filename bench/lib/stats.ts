/**
 * Small statistics and reporting helpers for the bench suite: every figure is printed with how it
 * was measured (runs, warm-up, median, spread) and on which machine.
 */
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';

/** Nearest-rank percentile (p in 0..1) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] as number;
}

export const median = (values: readonly number[]): number => percentile(values, 0.5);

/** `min … p25 / p75 … max` of a list, with `digits` decimals. */
export function spread(values: readonly number[], digits = 2): string {
  const f = (v: number) => v.toFixed(digits);
  return `min ${f(Math.min(...values))}, p25 ${f(percentile(values, 0.25))}, p75 ${f(percentile(values, 0.75))}, max ${f(Math.max(...values))}`;
}

/** Node, kernel, CPU and load: printed with every figure (the machine is shared and noisy). */
export function machine(): string {
  const c = cpus();
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return `node ${process.version}, Linux ${kernel}, ${c.length} × ${c[0]?.model ?? '?'}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

/** One benchmark's outcome: its keys (null when not measured) and how it was measured. */
export interface BenchOutcome {
  readonly values: Record<string, number | null>;
  readonly method: string[];
}

export function report(title: string, o: BenchOutcome): void {
  console.log(`\n== ${title}`);
  for (const line of o.method) console.log(`   ${line}`);
  console.log(`   machine: ${machine()}`);
  for (const [k, v] of Object.entries(o.values)) console.log(`   ${k} = ${v === null ? 'not measured' : v}`);
}

/** Milliseconds on CLOCK_MONOTONIC (the clock /dev/kmsg timestamps approximate). */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Waits ms; a deadline already past (ms ≤ 0, `sleep(until - now)`) waits for nothing (Node warns on a negative timeout). */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export const round = (v: number, digits = 2): number => Number(v.toFixed(digits));
