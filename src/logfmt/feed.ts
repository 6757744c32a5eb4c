/**
 * Text in any kernel log form (see line.ts), chunk by chunk, into the OOM report state machine.
 * Pure: the caller does the reading. Lines that are not OOM lines reach the state machine only as
 * (seq, time, facility), without their message being cut out or decoded.
 */
import { unescapeKmsg } from '../kmsg/record.js';
import { mayBeOomLine } from '../oom/messages.js';
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
    const text = chunk;
    let pos = 0;
    if (this.carry !== '') {
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        this.carry += chunk;
        return;
      }
      this.line(this.carry + chunk.slice(0, nl));
      this.carry = '';
      pos = nl + 1;
    }
    for (;;) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0) break;
      this.line(text.slice(pos, nl));
      pos = nl + 1;
    }
    if (pos < text.length) this.carry = text.slice(pos);
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
      this.line(last);
    }
  }

  private line(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
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
    if (!mayBeOomLine(line, start)) {
      this.parser.pushOther(info.seq, info.tsUs, info.facility);
      return;
    }
    const body = start === 0 ? line : line.slice(start);
    this.parser.push(info.escaped ? unescapeKmsg(body) : body, info.seq, info.tsUs, info.facility);
  }
}
