import { ParseError } from '../../errors.js';

/**
 * v1 memory limits read as PAGE_COUNTER_MAX × PAGE_SIZE (9223372036854771712 on 4 KiB pages) when
 * unlimited; the exact figure depends on the page size, so anything from 2^62 up is "no limit".
 */
const UNLIMITED_FLOOR = 2n ** 62n;

/**
 * Parse one unsigned kernel integer. Returns Infinity for v1's "unlimited" magnitudes, throws
 * ParseError for anything that is not an integer or lies between 2^53 and 2^62 (a real value
 * we cannot represent exactly).
 */
export function parseCount(raw: string, source: string, line?: number): number {
  if (!/^\d+$/.test(raw)) throw new ParseError(source, `not an unsigned integer: ${JSON.stringify(raw)}`, line === undefined ? undefined : { line });
  const n = Number(raw);
  if (Number.isSafeInteger(n)) return n;
  if (BigInt(raw) >= UNLIMITED_FLOOR) return Infinity;
  throw new ParseError(source, `value ${raw} exceeds 2^53 and cannot be represented exactly`, line === undefined ? undefined : { line });
}

/**
 * Parse a flat-keyed file (`key value` per line: memory.stat, memory.events, memory.oom_control).
 * Pure. Lines that do not have the two-field shape are malformed; unknown keys are kept (callers
 * pick what they know, so new kernel keys never break us).
 */
export function parseFlatKeyed(text: string, source: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const sp = line.indexOf(' ');
    if (sp <= 0 || line.indexOf(' ', sp + 1) >= 0) {
      throw new ParseError(source, `expected "key value", got ${JSON.stringify(line)}`, { line: i + 1 });
    }
    out.set(line.slice(0, sp), parseCount(line.slice(sp + 1), source, i + 1));
  }
  return out;
}
