import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, ParseError, isErrno } from '../errors.js';

/** AT_PAGESZ (include/uapi/linux/auxvec.h): the kernel's PAGE_SIZE, given to every process at exec. */
const AT_PAGESZ = 6n;

/**
 * The page size from the bytes of /proc/<pid>/auxv (proc(5), getauxval(3)): pairs of native
 * unsigned longs (8 bytes, little-endian on the 64-bit platforms Node runs on), ended by AT_NULL.
 * Pure.
 */
export function parseAuxvPageSize(bytes: Buffer, source = 'auxv'): number {
  for (let off = 0; off + 16 <= bytes.length; off += 16) {
    const type = bytes.readBigUInt64LE(off);
    if (type === 0n) break;
    if (type === AT_PAGESZ) {
      const size = Number(bytes.readBigUInt64LE(off + 8));
      if (size < 1024 || (size & (size - 1)) !== 0) throw new ParseError(source, `AT_PAGESZ ${size} is not a page size`);
      return size;
    }
  }
  throw new ParseError(source, 'no AT_PAGESZ entry');
}

/**
 * The kernel's page size, from `<proc>/self/auxv`: the unit of every count the OOM killer weighs
 * (rss, swap entries, page tables, the limit). Node offers no getpagesize(); auxv is where libc
 * reads it.
 */
export function readPageSize(procRoot: string): number {
  const file = join(procRoot, 'self', 'auxv');
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const why = isErrno(err) ? err.code : String(err);
    throw new OomwatchError('EIO', `cannot read ${file} (${why}); is --proc-root (${procRoot}) a proc filesystem?`, { cause: err });
  }
  return parseAuxvPageSize(bytes, file);
}
