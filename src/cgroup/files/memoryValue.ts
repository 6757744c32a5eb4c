import { ParseError } from '../../errors.js';
import { parseCount } from './flatKeyed.js';

/**
 * A single-value memory file: v2 memory.current/max/high/low/peak/swap.max (`max` = unlimited),
 * v1 memory.usage_in_bytes/limit_in_bytes/... (unlimited reads as a huge number).
 * Returns bytes, or null for unlimited.
 */
export function parseMemoryValue(text: string, source: string): number | null {
  const s = text.trim();
  if (s === 'max') return null;
  if (s === '') throw new ParseError(source, 'empty file');
  const n = parseCount(s, source);
  return Number.isFinite(n) ? n : null;
}

/** cgroup.procs / tasks: one PID per line. */
export function parsePidList(text: string, source = 'cgroup.procs'): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!/^\d+$/.test(line)) throw new ParseError(source, `not a pid: ${JSON.stringify(line)}`);
    out.push(Number(line));
  }
  return out;
}
