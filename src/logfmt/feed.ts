/**
 * Text in any kernel log form (see line.ts), chunk by chunk, into the OOM report state machine.
 * Pure: the caller does the reading. Lines that are not OOM lines reach the state machine only as
 * (seq, time, facility), without their message being cut out or decoded, except inside a report
 * (the parser is reading its blocks: memory, stats, task table).
 *
 * Each line goes to the parser of its source stream (LogLine.stream: a host, a wrapper; made on
 * first use as the given parser's sibling, sharing its stats), so that interleaved sources' reports
 * stay apart. A kill, selection or summary line that is not whole waits one line: when the next
 * line has no form of its own and completes it (a terminal's cut), the two go on as one.
 *
 * A file's bytes may be fed as they are (writeBytes): raw /dev/kmsg records are then read without
 * being decoded, and the parser hears of a run of consecutive ordinary records in one call.
 */
import { StringDecoder } from 'node:string_decoder';
import { newKmsgPrefix, scanKmsgPrefix, scanKmsgPrefixBytes, unescapeKmsg } from '../kmsg/record.js';
import { indexOfOomKeyword, isBrokenOomLine, joinBrokenLine, mayBeOomLine } from '../oom/messages.js';
import type { OomReportParser } from '../oom/report.js';
import { lineWallUs, type ClockContext } from './clock.js';
import { LOG_FORMATS, detectLine, newLogLine, type LogFormat } from './line.js';

export interface MalformedLine {
  readonly source: string;
  readonly line: number;
  /** The line's start (at most MALFORMED_EXAMPLE_CHARS). */
  readonly text: string;
  /** Set when the line was malformed for its length alone: how long it was, in characters. */
  readonly chars?: number;
}

export interface FeedStats {
  lines: number;
  formats: Record<LogFormat, number>;
  /** Lines that are there but wrong (a broken kmsg prefix, or longer than MAX_LINE_CHARS): counted, never fatal. */
  malformed: number;
  /** Of those, the lines longer than MAX_LINE_CHARS. */
  overlong: number;
  /**
   * Message lines in a form that does not say where they came from (plain dmesg, dmesg -r of the
   * kernel's records, dmesg -T, --time-format iso, bare text): a line userspace wrote to /dev/kmsg
   * looks the same as the kernel's.
   */
  noFacility: number;
  /** The first few malformed lines, to show the user. */
  malformedExamples: MalformedLine[];
}

const MAX_EXAMPLES = 5;
const MALFORMED_EXAMPLE_CHARS = 200;

/**
 * The longest line kept, in characters; a longer one is malformed. The kernel formats a record as
 * at most 8 KiB (CONSOLE_EXT_LOG_MAX, escapes and dictionary included; the message itself is under
 * 1 KiB before escaping) and every log form adds only a short prefix, so no kernel line comes near
 * this. Only the first MAX_LINE_CHARS of a longer line are held, whatever its length: memory stays
 * bounded.
 */
export const MAX_LINE_CHARS = 64 * 1024;

export interface FeederOptions {
  /** The year of times printed without one (journal short, syslog); default: inferred per input. */
  readonly year?: number | undefined;
}

/** A kill (or selection, summary) line that is not whole, held to see whether the next line completes it. */
interface PendingLine {
  readonly parser: OomReportParser;
  readonly msg: string;
  readonly seq: number;
  readonly tsUs: number;
  readonly facility: number;
  readonly wallUs: number;
}

export class KernelLogFeeder {
  readonly stats: FeedStats;
  private readonly parser: OomReportParser;
  /** Parsers of the input's other source streams (LogLine.stream), made on first use. */
  private readonly streams = new Map<string, OomReportParser>();
  private pending: PendingLine | null = null;
  private readonly info = newLogLine();
  private readonly prefix = newKmsgPrefix();
  private carry = '';
  /** The line being carried is longer than MAX_LINE_CHARS: `carry` holds its start only. */
  private overlong = false;
  /** The carried line's full length in characters, also what was dropped of it. */
  private carryChars = 0;
  private source = '<stdin>';
  private lineNo = 0;
  private prevKmsg = false;
  /** Next occurrence of OOM_KEYWORD in the current chunk (-1: not searched yet). */
  private kw = -1;
  /** Decodes what writeBytes hands to write(): the lines it does not read in the bytes. */
  private decoder: StringDecoder | null = null;
  /**
   * A run of consecutive ordinary kernel records read by writeBytes, not yet told to the parser:
   * SEQ runFirst to runFirst + runCount - 1, kernel times runMinTs to runMaxTs (pushOthers).
   */
  private runFirst = -1;
  private runCount = 0;
  private runMinTs = 0;
  private runMaxTs = 0;
  /**
   * The last chunk of bytes ended inside a line: write() holds its start (and the decoder may hold
   * a character's first bytes), so the next chunk's first line goes to write() too.
   */
  private bytesCut = false;
  private readonly year: number | undefined;
  private clock: ClockContext;

  constructor(parser: OomReportParser, options: FeederOptions = {}) {
    this.parser = parser;
    this.year = options.year;
    this.clock = { year: this.year, referenceMs: Date.now() };
    const formats = {} as Record<LogFormat, number>;
    for (const f of LOG_FORMATS) formats[f] = 0;
    this.stats = { lines: 0, formats, malformed: 0, overlong: 0, noFacility: 0, malformedExamples: [] };
  }

  /**
   * Start another input: nothing of a report, and no SEQ, carries over from the one before.
   * `referenceMs`: no line of it is later (a file's mtime; default now); it gives year-less times their year.
   */
  begin(source: string, referenceMs = Date.now()): void {
    this.flushDecoder();
    this.flushCarry();
    this.flushPending();
    this.parser.boundary();
    for (const p of this.streams.values()) p.boundary();
    this.streams.clear();
    this.clock = { year: this.year, referenceMs };
    this.source = source;
    this.lineNo = 0;
    this.prevKmsg = false;
  }

  /** Feed a chunk of text; a line cut at the chunk's end waits for the next chunk. */
  write(chunk: string): void {
    let pos = 0;
    if (this.carry !== '') {
      // The line cut at the last chunk's end is joined on its own, so that the chunk itself stays
      // a flat string for the char-code reads below.
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        this.extendCarry(chunk, 0, chunk.length);
        return;
      }
      this.extendCarry(chunk, 0, nl);
      this.flushCarry();
      pos = nl + 1;
    }
    this.kw = -1;
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      if (nl < 0) break;
      this.lineAt(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) {
      this.carry = '';
      this.carryChars = 0;
      this.extendCarry(chunk, pos, chunk.length);
    }
  }

  /**
   * Feed a chunk of UTF-8 bytes; the same as write() of the chunk decoded, without decoding most of
   * it. Raw /dev/kmsg records and their continuation lines are read in the bytes, and only the
   * message of a record that may be an OOM line (or that a report being read needs) is decoded.
   * A line of any other form, a line cut at the chunk's end and a line longer than MAX_LINE_CHARS
   * bytes go to write(): at the first one, the rest of the chunk is decoded and written at once, so
   * a log in another form costs what write() costs.
   */
  writeBytes(chunk: Buffer): void {
    const decoder = (this.decoder ??= new StringDecoder('utf8'));
    const len = chunk.length;
    if (len === 0) return;
    let pos = 0;
    if (this.bytesCut) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.write(decoder.write(chunk));
        return;
      }
      this.write(decoder.write(chunk.subarray(0, nl + 1)));
      pos = nl + 1;
    }
    // One byte a character: the newlines and OOM_KEYWORD (ASCII, as is a record's prefix) are found
    // at the same offsets as in the bytes, by V8's string search, which is cheaper per line than
    // Buffer#indexOf's call into C++. The text never leaves this method.
    const text = chunk.toString('latin1');
    this.kw = -1;
    for (;;) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0 || !this.lineBytesAt(chunk, text, pos, nl)) break;
      pos = nl + 1;
    }
    this.flushRun();
    this.bytesCut = chunk[len - 1] !== 10;
    if (pos < len) this.write(decoder.write(pos === 0 ? chunk : chunk.subarray(pos)));
  }

  /** What the decoder holds of a character cut at the last chunk's end goes to write(). */
  private flushDecoder(): void {
    if (this.decoder === null) return;
    this.bytesCut = false;
    const rest = this.decoder.end();
    if (rest !== '') this.write(rest);
  }

  /**
   * One line, bytes[s, end) (`latin1`: the chunk one byte a character): a raw record or its
   * continuation line is read here; false leaves the line (and the rest of the chunk) to write().
   */
  private lineBytesAt(bytes: Buffer, latin1: string, s: number, end: number): boolean {
    if (end - s > MAX_LINE_CHARS) return false;
    const e = end > s && bytes[end - 1] === 13 ? end - 1 : end;
    const c = bytes[s] as number;
    if (c >= 48 && c <= 57) return this.kmsgBytesAt(bytes, latin1, s, e);
    return c === 32 && this.prevKmsg && this.dictBytesAt(bytes, s, e);
  }

  /** A raw record's line counted (a broken line held before it is settled first). */
  private countRecord(): void {
    if (this.pending !== null) this.flushPending();
    this.lineNo++;
    this.stats.lines++;
    this.stats.formats.kmsg++;
    this.prevKmsg = true;
  }

  /** kmsgAt on bytes: a record that is no OOM line is never decoded. */
  private kmsgBytesAt(bytes: Buffer, latin1: string, s: number, e: number): boolean {
    const k = scanKmsgPrefixBytes(bytes, s, e, this.prefix);
    if (k.kind !== 'record') return false;
    this.countRecord();
    const start = k.messageStart;
    const facility = k.prio >> 3;
    if (!this.parser.readingReport && !this.mayBeOom(latin1, start, e)) {
      this.other(k.seq, k.tsUsec, facility);
      return true;
    }
    this.flushRun();
    this.parser.push(unescapeKmsg(bytes.toString('utf8', start, e)), k.seq, k.tsUsec, facility);
    return true;
  }

  /**
   * A record that is no OOM line: a kernel record that follows the run's last SEQ joins the run;
   * any other ends it and goes to the parser on its own. While a run is open the parser is told
   * nothing, so it is flushed before anything else reaches the parser.
   */
  private other(seq: number, tsUs: number, facility: number): void {
    if (facility === 0) {
      const n = this.runCount;
      if (n > 0 && seq === this.runFirst + n) {
        this.runCount = n + 1;
        if (tsUs < this.runMinTs) this.runMinTs = tsUs;
        else if (tsUs > this.runMaxTs) this.runMaxTs = tsUs;
        return;
      }
      this.flushRun();
      this.runFirst = seq;
      this.runCount = 1;
      this.runMinTs = tsUs;
      this.runMaxTs = tsUs;
      return;
    }
    this.flushRun();
    this.parser.pushOther(seq, tsUs, facility);
  }

  private flushRun(): void {
    const n = this.runCount;
    if (n === 0) return;
    this.runCount = 0;
    this.parser.pushOthers(this.runFirst, n, this.runMinTs, this.runMaxTs);
  }

  /**
   * A continuation line ` KEY=VALUE` right after a record (detectLine's 'kmsg-dict' test on the
   * bytes: a space, then A-Z or _ up to the line's first '='): counted, nothing else.
   */
  private dictBytesAt(bytes: Buffer, s: number, e: number): boolean {
    const eq = bytes.indexOf(61 /* = */, s);
    if (eq < 0 || eq >= e || eq - s <= 1) return false;
    for (let i = s + 1; i < eq; i++) {
      const c = bytes[i] as number;
      if (!((c >= 65 && c <= 90) || c === 95)) return false;
    }
    if (this.pending !== null) this.flushPending();
    this.lineNo++;
    this.stats.lines++;
    this.stats.formats['kmsg-dict']++;
    return true;
  }

  /** Add chunk[s, e) to the carried line, keeping no more than MAX_LINE_CHARS of it. */
  private extendCarry(chunk: string, s: number, e: number): void {
    this.carryChars += e - s;
    if (this.overlong) return;
    const room = MAX_LINE_CHARS - this.carry.length;
    if (e - s <= room) {
      this.carry += chunk.slice(s, e);
      return;
    }
    // Copied out of the chunk (a slice would keep the whole chunk alive) and never grown again.
    this.carry = Buffer.from(this.carry + chunk.slice(s, s + room), 'utf8').toString('utf8');
    this.overlong = true;
  }

  /** End of all input: the last unterminated line, then the state machine's end. */
  end(): void {
    this.flushDecoder();
    this.flushCarry();
    this.flushPending();
    this.parser.end();
    for (const p of this.streams.values()) p.end();
  }

  /** The parser of one source stream ('' is the input's main stream: the parser given). */
  private parserOf(stream: string): OomReportParser {
    if (stream === '') return this.parser;
    let p = this.streams.get(stream);
    if (p === undefined) {
      p = this.parser.sibling();
      this.streams.set(stream, p);
    }
    return p;
  }

  /** The held broken line goes to its parser as it is: no line came to complete it. */
  private flushPending(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    p.parser.push(p.msg, p.seq, p.tsUs, p.facility, p.wallUs);
  }

  private flushCarry(): void {
    if (this.carry === '') return;
    const last = this.carry;
    const chars = this.carryChars;
    const overlong = this.overlong;
    this.carry = '';
    this.carryChars = 0;
    this.overlong = false;
    this.kw = -1;
    if (overlong) this.overlongLine(last, 0, chars);
    else this.lineAt(last, 0, last.length);
  }

  /**
   * A line longer than MAX_LINE_CHARS (`head` holds its start from `s`; it was `chars` long): no
   * kernel line is that long, so it is malformed. A kmsg SEQ at its start still counts as seen.
   */
  private overlongLine(head: string, s: number, chars: number): void {
    this.lineNo++;
    this.stats.lines++;
    this.stats.formats.malformed++;
    this.stats.malformed++;
    this.stats.overlong++;
    this.prevKmsg = false;
    if (this.stats.malformedExamples.length < MAX_EXAMPLES) {
      const text = head.slice(s, s + MALFORMED_EXAMPLE_CHARS);
      this.stats.malformedExamples.push({ source: this.source, line: this.lineNo, text, chars });
    }
    const seq = scanKmsgPrefix(head, s, Math.min(head.length, s + MALFORMED_EXAMPLE_CHARS), this.prefix).seq;
    if (seq >= 0) this.parser.pushOther(seq);
  }

  /**
   * True when text[s, e) may hold an OOM line (mayBeOomLine's test). The position of the next
   * OOM_KEYWORD in `text` is kept, so a chunk is searched once, not once per line.
   */
  private mayBeOom(text: string, s: number, e: number): boolean {
    let at = this.kw;
    if (at < s) {
      at = indexOfOomKeyword(text, s);
      if (at < 0) at = Infinity;
      this.kw = at;
    }
    return at < e;
  }

  /**
   * The hot path: a raw record `PRIO,SEQ,TS_USEC,FLAGS[,...];MESSAGE` scanned in place, without
   * cutting the line out; a record that is no OOM line never becomes a string. Returns false when
   * text[s, e) is not a well-formed record (the general path then decides).
   */
  private kmsgAt(text: string, s: number, e: number): boolean {
    const k = scanKmsgPrefix(text, s, e, this.prefix);
    if (k.kind !== 'record') return false;
    this.countRecord();
    const start = k.messageStart;
    const facility = k.prio >> 3;
    if (!this.parser.readingReport && !this.mayBeOom(text, start, e)) {
      this.parser.pushOther(k.seq, k.tsUsec, facility);
      return true;
    }
    this.parser.push(unescapeKmsg(text.slice(start, e)), k.seq, k.tsUsec, facility);
    return true;
  }

  private lineAt(text: string, s: number, end: number): void {
    if (end - s > MAX_LINE_CHARS) {
      this.overlongLine(text, s, end - s);
      return;
    }
    const e = end > s && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    const c = text.charCodeAt(s);
    if (c >= 48 && c <= 57 && this.kmsgAt(text, s, e)) return;
    this.line(text.slice(s, e));
  }

  private line(line: string): void {
    this.lineNo++;
    if (line === '') return;
    this.stats.lines++;
    const info = this.info;
    detectLine(line, info, this.prevKmsg);
    const format = info.format;
    this.stats.formats[format]++;
    this.prevKmsg = format === 'kmsg' || (format === 'kmsg-dict' && this.prevKmsg);
    if (this.pending !== null) {
      // A line of no form of its own right after a broken kill line may be its other half.
      const p = this.pending;
      const joined = format === 'bare' ? joinBrokenLine(p.msg, line) : undefined;
      this.pending = null;
      if (joined !== undefined) {
        p.parser.push(joined, p.seq, p.tsUs, p.facility, p.wallUs);
        return;
      }
      p.parser.push(p.msg, p.seq, p.tsUs, p.facility, p.wallUs);
    }
    switch (format) {
      case 'kmsg-dict':
        return;
      case 'journal-marker':
        if (info.boot) {
          this.parser.boundary();
          for (const p of this.streams.values()) p.boundary();
        }
        return;
      case 'malformed':
        this.stats.malformed++;
        if (this.stats.malformedExamples.length < MAX_EXAMPLES) {
          this.stats.malformedExamples.push({ source: this.source, line: this.lineNo, text: line.slice(0, MALFORMED_EXAMPLE_CHARS) });
        }
        // A record we cannot read still holds its SEQ: it is no lost record.
        if (info.seq >= 0) this.parser.pushOther(info.seq);
        return;
      case 'kmsg':
      case 'dmesg':
      case 'dmesg-raw':
      case 'dmesg-x':
      case 'dmesg-T':
      case 'dmesg-iso':
      case 'journal':
      case 'journal-monotonic':
      case 'journal-iso':
      case 'wrapped':
      case 'bare':
        break;
      default:
        format satisfies never;
    }
    if (info.facility < 0) this.stats.noFacility++;
    const parser = info.stream === '' ? this.parser : this.parserOf(info.stream);
    const text = info.inner ?? line;
    const start = info.messageStart;
    const mayBeOom = mayBeOomLine(text, start);
    if (!parser.readingReport && !mayBeOom) {
      parser.pushOther(info.seq, info.tsUs, info.facility);
      return;
    }
    const body = start === 0 ? text : text.slice(start);
    // Only a kill line's time is kept, and every kill line passes mayBeOomLine: the report's other
    // lines (the task table) are not worth a date parse each.
    const wallUs = mayBeOom ? lineWallUs(line, info, this.clock) : -1;
    const msg = info.escaped ? unescapeKmsg(body) : body;
    if (mayBeOom && (info.facility < 0 || info.facility === 0) && isBrokenOomLine(msg)) {
      this.pending = { parser, msg, seq: info.seq, tsUs: info.tsUs, facility: info.facility, wallUs };
      return;
    }
    parser.push(msg, info.seq, info.tsUs, info.facility, wallUs);
  }
}
