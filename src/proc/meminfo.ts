import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, ParseError, isErrno } from '../errors.js';

/** The /proc/meminfo totals the OOM killer scales `oom_score_adj` by (mm/oom_kill.c constrained_alloc). */
export interface MemTotals {
  readonly memTotalKb: number;
  readonly swapTotalKb: number;
  /** MemAvailable (3.14+) and SwapFree: what is left, for the memory in use; null when not printed. */
  readonly memAvailableKb: number | null;
  readonly swapFreeKb: number | null;
}

/** Parse the text of /proc/meminfo (Documentation/filesystems/proc.rst, "meminfo"). Pure. */
export function parseMemTotals(text: string, source = 'meminfo'): MemTotals {
  const get = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const memTotalKb = get('MemTotal');
  if (memTotalKb === undefined) throw new ParseError(source, 'no MemTotal line');
  return { memTotalKb, swapTotalKb: get('SwapTotal') ?? 0, memAvailableKb: get('MemAvailable') ?? null, swapFreeKb: get('SwapFree') ?? null };
}

/** Read `<proc>/meminfo`; a file that cannot be read is an error naming it and the --proc-root it came from. */
export function readMemTotals(procRoot: string): MemTotals {
  const file = join(procRoot, 'meminfo');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = isErrno(err) ? err.code : String(err);
    throw new OomwatchError('EIO', `cannot read ${file} (${why}); is --proc-root (${procRoot}) a proc filesystem?`, { cause: err });
  }
  return parseMemTotals(text, file);
}
