/**
 * The glue between the live /dev/kmsg reader and the OOM report parser (pure: events in, parser
 * calls and notes out). Only the kernel's own records (facility 0, Documentation/ABI/testing/dev-kmsg)
 * reach the parser as messages; a record written by userspace is passed as its SEQ alone, so the
 * parser neither reads what it says nor mistakes its absence for a lost record.
 */
import type { KmsgEvent } from '../kmsg/reader.js';
import { isKernelRecord } from '../kmsg/record.js';
import type { OomReportParser } from './report.js';

/** What the reader reported besides records; each note is optional. */
export interface KmsgFeedNotes {
  readonly lost?: (e: Extract<KmsgEvent, { type: 'lost' }>) => void;
  readonly malformed?: (e: Extract<KmsgEvent, { type: 'malformed' }>) => void;
  readonly rewind?: (e: Extract<KmsgEvent, { type: 'rewind' }>) => void;
  /** A record was fully handed to the parser (the daemon's resume point moves past it). */
  readonly done?: (seq: number) => void;
}

/**
 * Feed one batch of reader events to the parser, in order. Lost records need no call of their own:
 * the parser sees the SEQ gap. Does not call `parser.idle()`: the caller decides when the log is
 * quiet (see `oomwatch tail`).
 */
export function feedKmsgEvents(parser: OomReportParser, events: readonly KmsgEvent[], notes: KmsgFeedNotes = {}): void {
  for (const e of events) {
    switch (e.type) {
      case 'record': {
        const r = e.record;
        if (isKernelRecord(r)) parser.pushRecord(r);
        else parser.pushOther(r.seq, r.tsUsec, r.facility);
        notes.done?.(r.seq);
        break;
      }
      case 'lost':
        notes.lost?.(e);
        break;
      case 'malformed':
        notes.malformed?.(e);
        break;
      case 'rewind':
        notes.rewind?.(e);
        break;
      default:
        e satisfies never;
    }
  }
}
