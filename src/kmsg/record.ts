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

/** What {@link scanKmsgPrefix} found at the start of a line. */
export type KmsgPrefixKind =
  /** A well-formed `PRIO,SEQ,TS_USEC,FLAGS[,more];` prefix. */
  | 'record'
  /** The line starts like a record (`PRIO,SEQ,` and another comma) but the rest is wrong. */
  | 'malformed'
  /** Not a record prefix at all: the line is something else. */
  | 'none';

/**
 * The result of {@link scanKmsgPrefix}. The caller passes one in and may reuse it for every line, so
 * scanning allocates nothing. Numeric fields are -1 where the kind leaves them unknown.
 */
export interface KmsgPrefix {
  kind: KmsgPrefixKind;
  prio: number;
  /** SEQ: also set on a 'malformed' prefix whose SEQ could be read (the record was there: no gap). */
  seq: number;
  tsUsec: number;
  /** FLAGS is text[flagsStart, flagsEnd). */
  flagsStart: number;
  flagsEnd: number;
  /** Index after the `;`: where the message starts. */
  messageStart: number;
  /** Why the prefix is not a record ('' for a record): a fixed phrase, for error messages. */
  problem: string;
}

export function newKmsgPrefix(): KmsgPrefix {
  return { kind: 'none', prio: -1, seq: -1, tsUsec: -1, flagsStart: -1, flagsEnd: -1, messageStart: -1, problem: '' };
}

/**
 * The largest PRIO a record can carry: the kernel keeps the facility in a u8 (struct printk_info) and
 * takes it from a userspace write's `<N>` (kernel/printk/printk.c, devkmsg_write), so a write of
 * `<2047>` is read back as PRIO 2047 (facility 255, level 7). Only the kernel's own records are < 8.
 */
export const MAX_PRIO = 2047;

/** More digits than this in SEQ or TS_USEC make the prefix malformed (2^53 has 16). */
const MAX_DIGITS = 16;

function fail(out: KmsgPrefix, kind: KmsgPrefixKind, problem: string, seq: number): KmsgPrefix {
  out.kind = kind;
  out.problem = problem;
  out.prio = -1;
  out.seq = seq <= Number.MAX_SAFE_INTEGER ? seq : -1;
  out.tsUsec = -1;
  out.flagsStart = -1;
  out.flagsEnd = -1;
  out.messageStart = -1;
  return out;
}

/**
 * Scan text[from, to) for the /dev/kmsg record prefix `PRIO,SEQ,TS_USEC,FLAGS[,more];`
 * (Documentation/ABI/testing/dev-kmsg) and fill `out`. Pure, never throws, allocates nothing; reads
 * char codes in place, so `text` may be a whole chunk of many lines. Unknown comma fields after FLAGS
 * are skipped, as the ABI asks.
 *
 * The kinds: a line that does not start with `DIGITS,DIGITS,` followed later by another comma is
 * 'none' (a plain message that happens to start with a number stays a message); one that does is a
 * record, and 'malformed' if anything after that is wrong (SEQ is then kept when it was read).
 */
export function scanKmsgPrefix(text: string, from: number, to: number, out: KmsgPrefix): KmsgPrefix {
  // The digit loops may look past `to` (charCodeAt gives NaN past the end of the text); a field
  // counts only when the comma that ends it lies before `to`.
  let i = from;
  let prio = 0;
  let c = text.charCodeAt(i);
  while (c >= 48 && c <= 57 && i - from < 4) {
    prio = prio * 10 + (c - 48);
    c = text.charCodeAt(++i);
  }
  if (i === from || c !== 44 /* , */ || i >= to) return fail(out, 'none', 'no PRIO', -1);
  const s2 = ++i;
  let seq = 0;
  c = text.charCodeAt(i);
  while (c >= 48 && c <= 57 && i - s2 < MAX_DIGITS) {
    seq = seq * 10 + (c - 48);
    c = text.charCodeAt(++i);
  }
  if (i === s2 || c !== 44 || i >= to) return fail(out, 'none', 'no SEQ', -1);
  const s3 = ++i;
  let ts = 0;
  c = text.charCodeAt(i);
  while (c >= 48 && c <= 57 && i - s3 < MAX_DIGITS) {
    ts = ts * 10 + (c - 48);
    c = text.charCodeAt(++i);
  }
  if (i === s3 || c !== 44 || i >= to) {
    // `DIGITS,DIGITS,` and no further comma: a message such as "3,4,5 apples", not a record.
    let comma = s3;
    while (comma < to && text.charCodeAt(comma) !== 44) comma++;
    if (comma >= to) return fail(out, 'none', 'no TS_USEC', -1);
    return fail(out, 'malformed', 'bad TS_USEC', seq);
  }
  if (outOfRange(out, prio, seq, ts)) return out;
  const flagsStart = ++i;
  let flagsEnd = -1;
  for (; i < to; i++) {
    c = text.charCodeAt(i);
    if (c === 59 /* ; */) break;
    if (c === 44 && flagsEnd < 0) flagsEnd = i;
  }
  if (i >= to) return fail(out, 'malformed', "no ';' after FLAGS", seq);
  return recordFields(out, prio, seq, ts, flagsStart, flagsEnd < 0 ? i : flagsEnd, i + 1);
}

/** Fails `out` when a field is past what the record format allows (the string and byte scanners alike). */
function outOfRange(out: KmsgPrefix, prio: number, seq: number, ts: number): boolean {
  if (seq > Number.MAX_SAFE_INTEGER) fail(out, 'malformed', 'SEQ too large', -1);
  else if (prio > MAX_PRIO) fail(out, 'malformed', 'PRIO too large', seq);
  else if (ts > Number.MAX_SAFE_INTEGER) fail(out, 'malformed', 'TS_USEC too large', seq);
  else return false;
  return true;
}

/** A well-formed record's prefix, into `out` (the string and byte scanners alike). */
function recordFields(out: KmsgPrefix, prio: number, seq: number, ts: number, flagsStart: number, flagsEnd: number, messageStart: number): KmsgPrefix {
  out.kind = 'record';
  out.problem = '';
  out.prio = prio;
  out.seq = seq;
  out.tsUsec = ts;
  out.flagsStart = flagsStart;
  out.flagsEnd = flagsEnd;
  out.messageStart = messageStart;
  return out;
}

/**
 * {@link scanKmsgPrefix} on the bytes of a record, bytes[from, to), with the same kinds, fields and
 * problems: the prefix is ASCII, so byte offsets and character offsets agree up to the message.
 * `to` must be a line's end (its newline, carriage return or the end of `bytes`): the digit loops
 * stop there, where the string scanner reads a character that is no digit.
 */
export function scanKmsgPrefixBytes(bytes: Uint8Array, from: number, to: number, out: KmsgPrefix): KmsgPrefix {
  // Every read stays below `to` and yields a small integer: the loops compile to plain byte reads.
  let i = from;
  let prio = 0;
  for (; i < to; i++) {
    const c = bytes[i] as number;
    if (c < 48 || c > 57 || i - from >= 4) break;
    prio = prio * 10 + (c - 48);
  }
  if (i === from || i >= to || bytes[i] !== 44 /* , */) return fail(out, 'none', 'no PRIO', -1);
  const s2 = ++i;
  let seq = 0;
  for (; i < to; i++) {
    const c = bytes[i] as number;
    if (c < 48 || c > 57 || i - s2 >= MAX_DIGITS) break;
    seq = seq * 10 + (c - 48);
  }
  if (i === s2 || i >= to || bytes[i] !== 44) return fail(out, 'none', 'no SEQ', -1);
  const s3 = ++i;
  let ts = 0;
  for (; i < to; i++) {
    const c = bytes[i] as number;
    if (c < 48 || c > 57 || i - s3 >= MAX_DIGITS) break;
    ts = ts * 10 + (c - 48);
  }
  if (i === s3 || i >= to || bytes[i] !== 44) {
    let comma = s3;
    while (comma < to && bytes[comma] !== 44) comma++;
    if (comma >= to) return fail(out, 'none', 'no TS_USEC', -1);
    return fail(out, 'malformed', 'bad TS_USEC', seq);
  }
  if (outOfRange(out, prio, seq, ts)) return out;
  const flagsStart = ++i;
  let flagsEnd = -1;
  for (; i < to; i++) {
    const c = bytes[i] as number;
    if (c === 59 /* ; */) break;
    if (c === 44 && flagsEnd < 0) flagsEnd = i;
  }
  if (i >= to) return fail(out, 'malformed', "no ';' after FLAGS", seq);
  return recordFields(out, prio, seq, ts, flagsStart, flagsEnd < 0 ? i : flagsEnd, i + 1);
}

/**
 * Parse one record as returned by one read() of /dev/kmsg. Pure. Unknown comma fields after
 * FLAGS are ignored, as the ABI asks. Throws ParseError on a record whose prefix is malformed.
 */
export function parseKmsgRecord(text: string, source = '/dev/kmsg'): KmsgRecord {
  let end = text.indexOf('\n');
  if (end < 0) end = text.length;
  const p = scanKmsgPrefix(text, 0, end, newKmsgPrefix());
  if (p.kind !== 'record') {
    throw new ParseError(source, `kmsg record prefix: ${p.problem}; want PRIO,SEQ,TS_USEC,FLAGS;MESSAGE: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const prio = p.prio;
  const flags = text.slice(p.flagsStart, p.flagsEnd);
  const message = unescapeKmsg(text.slice(p.messageStart, end));
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
  return { prio, facility: prio >> 3, level: prio & 7, seq: p.seq, tsUsec: p.tsUsec, flags, message, dict };
}
