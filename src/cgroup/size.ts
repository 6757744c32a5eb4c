import { UsageError } from '../errors.js';

/** A memory size: bytes, or `'max'` for unlimited (never 0, never 2^63). */
export type Size = number | 'max';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * Parse a size as users write it: `64M`, `1.5G`, `512Ki`, `4096`, `max`. Every suffix is binary
 * (K = KiB = 1024), as in systemd's MemoryMax= and docker's --memory; `i` and `B` are optional
 * (`64M`, `64Mi`, `64MiB`, `64MB` are all 64 MiB). Fractions are rounded down to whole bytes.
 */
export function parseSize(text: string, what = 'size'): Size {
  const s = text.trim();
  if (s === 'max' || s === 'infinity' || s === 'unlimited') return 'max';
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(i?)([bB]?)$/.exec(s);
  if (m === null || (m[3] === 'i' && m[2] === '')) {
    throw new UsageError(
      `${what}: ${JSON.stringify(text)} is not a size; use bytes or a number with K, M, G, T (binary: 64M = 64 MiB), e.g. 64M, 1.5G, 512Ki, or max`,
    );
  }
  const bytes = Math.floor(Number(m[1]) * (UNITS[(m[2] as string).toLowerCase()] as number));
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${what}: ${JSON.stringify(text)} is too large`);
  return bytes;
}

const SUFFIXES = ['B', 'K', 'M', 'G', 'T', 'P'];

/**
 * A byte count as every table and message of the CLI shows it: binary units with one decimal
 * (`4.0K`, `64.0M`, `1.5G`), whole bytes below 1K (`512B`). The suffixes mean what they mean in
 * the sizes the CLI accepts (K = 1024), so a printed size can be given back as a flag.
 * `-` for a value that is not there, `max` for unlimited.
 */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (!Number.isFinite(n)) return 'max';
  let v = n;
  let i = 0;
  // Round before choosing the unit, so 1048575 bytes read 1.0M and not 1024.0K.
  while (i < SUFFIXES.length - 1 && (i === 0 ? v >= 1024 : Number(v.toFixed(1)) >= 1024)) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(1)}${SUFFIXES[i] as string}`;
}

/** The same for a count of kB, as /proc/<pid>/status and /proc/meminfo give them. */
export function formatKb(kb: number): string {
  return formatBytes(kb * 1024);
}
