import { ParseError } from '../errors.js';

/**
 * One record of /dev/kmsg (Documentation/ABI/testing/dev-kmsg):
 * `PRIO,SEQ,TS_USEC,FLAGS[,more];MESSAGE\n` then optional continuation lines ` KEY=VALUE\n`.
 */
export interface KmsgRecord {
  /** facility·8 + level, as the kernel printed it. */
  readonly prio: number;
  readonly facility: number;
  readonly level: number;
  /** The record's sequence number; consecutive records differ by 1, a gap means records were lost. */
  readonly seq: number;
  /** The kernel's local clock at the time of the record, µs since boot (≈ CLOCK_MONOTONIC). */
  readonly tsUsec: number;
  /** `-` for a normal record, `c` for a continuation fragment (old kernels). */
  readonly flags: string;
  /** The message with `\xNN` escapes decoded. */
  readonly message: string;
  /** Continuation dictionary lines (`SUBSYSTEM=...`, `DEVICE=...`), escapes decoded. */
  readonly dict: Readonly<Record<string, string>>;
}

/** The kernel's own facility. Userspace writes to /dev/kmsg always get facility ≥ 1 (LOG_USER). */
export const KERNEL_FACILITY = 0;

/** True when the record came from the kernel, not from a userspace write to /dev/kmsg. */
export function isKernelRecord(r: Pick<KmsgRecord, 'facility'>): boolean {
  return r.facility === KERNEL_FACILITY;
}

/**
 * Decode the kernel's `\xNN` escapes (it escapes non-printable bytes and `\` itself). Escaped bytes
 * of a UTF-8 sequence are decoded together, so a name printed as `\xc3\xa9` comes back as `é`.
 */
export function unescapeKmsg(s: string): string {
  if (!s.includes('\\x')) return s;
  return s.replace(/(?:\\x[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = Buffer.alloc(run.length / 4);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 4 + 2, i * 4 + 4), 16);
    return bytes.toString('utf8');
  });
}

function field(text: string, from: number, to: number, what: string, source: string): number {
  const raw = text.slice(from, to);
  const n = Number(raw);
  if (raw === '' || !Number.isSafeInteger(n) || n < 0 || !/^\d+$/.test(raw)) {
    throw new ParseError(source, `bad ${what} ${JSON.stringify(raw)} in kmsg record ${JSON.stringify(text.slice(0, 80))}`);
  }
  return n;
}

/**
 * Parse one record as returned by one read() of /dev/kmsg. Pure. Unknown comma fields after
 * FLAGS are ignored, as the ABI asks. Throws ParseError on a record whose prefix is malformed.
 */
export function parseKmsgRecord(text: string, source = '/dev/kmsg'): KmsgRecord {
  const semi = text.indexOf(';');
  if (semi < 0) throw new ParseError(source, `kmsg record without ';': ${JSON.stringify(text.slice(0, 80))}`);
  const c1 = text.indexOf(',');
  const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
  const c3 = c2 < 0 ? -1 : text.indexOf(',', c2 + 1);
  if (c1 < 0 || c2 < 0 || c3 < 0 || c3 > semi) {
    throw new ParseError(source, `kmsg record prefix needs PRIO,SEQ,TS_USEC,FLAGS: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const prio = field(text, 0, c1, 'PRIO', source);
  const seq = field(text, c1 + 1, c2, 'SEQ', source);
  const tsUsec = field(text, c2 + 1, c3, 'TS_USEC', source);
  const c4 = text.indexOf(',', c3 + 1);
  const flags = text.slice(c3 + 1, c4 >= 0 && c4 < semi ? c4 : semi);
  let end = text.indexOf('\n', semi + 1);
  if (end < 0) end = text.length;
  const message = unescapeKmsg(text.slice(semi + 1, end));
  const dict: Record<string, string> = {};
  let pos = end + 1;
  while (pos < text.length) {
    let next = text.indexOf('\n', pos);
    if (next < 0) next = text.length;
    if (text[pos] === ' ') {
      const line = text.slice(pos + 1, next);
      const eq = line.indexOf('=');
      if (eq > 0) dict[line.slice(0, eq)] = unescapeKmsg(line.slice(eq + 1));
    }
    pos = next + 1;
  }
  return { prio, facility: prio >> 3, level: prio & 7, seq, tsUsec, flags, message, dict };
}
