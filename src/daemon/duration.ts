import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parse a duration as Prometheus and Go write it: `250ms`, `1s`, `1.5s`, `2m`, `1h`. Returns ms.
 * `days`: also `2d` (a day is 24 h), for spans of time looked back over (`kills --since`, how long
 * kills are kept) rather than intervals.
 */
export function parseDuration(text: string, what = 'duration', { days = false }: { days?: boolean } = {}): number {
  const m = (days ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/ : /^(\d+(?:\.\d+)?)(ms|s|m|h)$/).exec(text.trim());
  if (m === null) throw new UsageError(`${what}: ${JSON.stringify(text)} is not a duration; write e.g. ${days ? '30m, 1h, 2d' : '250ms, 1s, 2m'}`);
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (!(ms > 0)) throw new UsageError(`${what}: ${JSON.stringify(text)} must be more than zero`);
  return ms;
}
