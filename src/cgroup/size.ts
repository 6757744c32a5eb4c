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

/** Human form of a byte count for tables: `64.0 MiB`. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (!Number.isFinite(n)) return 'max';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
