/**
 * Text in any kernel log form (see line.ts), chunk by chunk, into the OOM report state machine.
 * Pure: the caller does the reading. Lines that are not OOM lines reach the state machine only as
 * (seq, time, facility), without their message being cut out or decoded, except inside a report
 * (the parser is reading its blocks: memory, stats, task table).
 */
import { unescapeKmsg } from '../kmsg/record.js';
import { OOM_KEYWORD, mayBeOomLine } from '../oom/messages.js';
import type { OomReportParser } from '../oom/report.js';
import { LOG_FORMATS, detectLine, newLogLine, type LogFormat } from './line.js';

export interface MalformedLine {
  readonly source: string;
  readonly line: number;
  readonly text: string;
}

export interface FeedStats {
  lines: number;
  formats: Record<LogFormat, number>;
  /** Lines that are there but wrong (a broken kmsg prefix): counted, never fatal. */
  malformed: number;
  /** The first few malformed lines, to show the user. */
  malformedExamples: MalformedLine[];
}

const MAX_EXAMPLES = 5;

export class KernelLogFeeder {
  readonly stats: FeedStats;
  private readonly parser: OomReportParser;
  private readonly info = newLogLine();
  private carry = '';
  private source = '<stdin>';
  private lineNo = 0;
  private prevKmsg = false;
  /** Next occurrence of OOM_KEYWORD in the current chunk (-1: not searched yet). */
  private kw = -1;

  constructor(parser: OomReportParser) {
    this.parser = parser;
    const formats = {} as Record<LogFormat, number>;
    for (const f of LOG_FORMATS) formats[f] = 0;
    this.stats = { lines: 0, formats, malformed: 0, malformedExamples: [] };
  }

  /** Start another input: nothing of a report, and no SEQ, carries over from the one before. */
  begin(source: string): void {
    this.flushCarry();
    this.parser.boundary();
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
        this.carry += chunk;
        return;
      }
      const first = this.carry + chunk.slice(0, nl);
      this.carry = '';
      this.kw = -1;
      this.lineAt(first, 0, first.length);
      pos = nl + 1;
    }
    this.kw = -1;
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      if (nl < 0) break;
      this.lineAt(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.carry = chunk.slice(pos);
  }

  /** End of all input: the last unterminated line, then the state machine's end. */
  end(): void {
    this.flushCarry();
    this.parser.end();
  }

  private flushCarry(): void {
    if (this.carry !== '') {
      const last = this.carry;
      this.carry = '';
      this.kw = -1;
      this.lineAt(last, 0, last.length);
    }
  }

  /**
   * True when text[s, e) may hold an OOM line (mayBeOomLine's test). The position of the next
   * OOM_KEYWORD in `text` is kept, so a chunk is searched once, not once per line.
   */
  private mayBeOom(text: string, s: number, e: number): boolean {
    let at = this.kw;
    if (at < s) {
      at = text.indexOf(OOM_KEYWORD, s);
      if (at < 0) at = Infinity;
      this.kw = at;
    }
    return at < e;
  }

  /**
   * The hot path: a raw record `PRIO,SEQ,TS_USEC,FLAGS[,...];MESSAGE` read in place with char
   * codes, without cutting the line out; a record that is no OOM line never becomes a string.
   * Returns false when text[s, e) is not a well-formed record (the general path then decides).
   */
  private kmsgAt(text: string, s: number, e: number): boolean {
    let i = s;
    let prio = 0;
    let c = text.charCodeAt(i);
    while (c >= 48 && c <= 57 && i - s < 4) {
      prio = prio * 10 + (c - 48);
      c = text.charCodeAt(++i);
    }
    if (i === s || c !== 44 /* , */ || prio > 191) return false;
    const s2 = ++i;
    let seq = 0;
    c = text.charCodeAt(i);
    while (c >= 48 && c <= 57 && i - s2 < 16) {
      seq = seq * 10 + (c - 48);
      c = text.charCodeAt(++i);
    }
    if (i === s2 || c !== 44) return false;
    const s3 = ++i;
    let ts = 0;
    c = text.charCodeAt(i);
    while (c >= 48 && c <= 57 && i - s3 < 16) {
      ts = ts * 10 + (c - 48);
      c = text.charCodeAt(++i);
    }
    if (i === s3 || c !== 44) return false;
    // FLAGS and any further fields up to ';' (short: look no further than 64 characters).
    const limit = Math.min(e, i + 64);
    while (i < limit && text.charCodeAt(i) !== 59 /* ; */) i++;
    if (i >= limit) return false;
    const start = i + 1;
    this.lineNo++;
    this.stats.lines++;
    this.stats.formats.kmsg++;
    this.prevKmsg = true;
    const facility = prio >> 3;
    if (!this.parser.readingReport && !this.mayBeOom(text, start, e)) {
      this.parser.pushOther(seq, ts, facility);
      return true;
    }
    this.parser.push(unescapeKmsg(text.slice(start, e)), seq, ts, facility);
    return true;
  }

  private lineAt(text: string, s: number, end: number): void {
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
    switch (format) {
      case 'kmsg-dict':
        return;
      case 'journal-marker':
        if (info.boot) this.parser.boundary();
        return;
      case 'malformed':
        this.stats.malformed++;
        if (this.stats.malformedExamples.length < MAX_EXAMPLES) {
          this.stats.malformedExamples.push({ source: this.source, line: this.lineNo, text: line.slice(0, 200) });
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
      case 'bare':
        break;
      default:
        format satisfies never;
    }
    const start = info.messageStart;
    if (!this.parser.readingReport && !mayBeOomLine(line, start)) {
      this.parser.pushOther(info.seq, info.tsUs, info.facility);
      return;
    }
    const body = start === 0 ? line : line.slice(start);
    this.parser.push(info.escaped ? unescapeKmsg(body) : body, info.seq, info.tsUs, info.facility);
  }
}
