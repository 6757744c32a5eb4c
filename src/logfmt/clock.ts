/**
 * A text log line's own wall-clock time (pure), where its form prints one (see line.ts):
 *   dmesg-iso, journal-iso  `2026-11-28T05:26:58,123456+00:00`, `2026-11-28T05:26:58+0000`: the zone is in the line
 *   dmesg-T (and dmesg -x -T)  `[Sat Nov 28 05:26:58 2026]`: ctime in the printing machine's local zone
 *   journal, syslog         `Nov 28 05:26:58[.123456]`: local zone, and no year
 * A local time is read in this process's zone (the TZ environment variable): set TZ to the
 * printing machine's zone when it differs. A time without a year gets the `year` given, or else
 * the year that puts it at or before `referenceMs` (the file's last write, or now for a stream):
 * a log line is older than the log.
 */
import { parseRfc3339Us } from '../kmsg/wallClock.js';
import type { LogLine } from './line.js';

export interface ClockContext {
  /** The year for times printed without one; undefined: inferred from referenceMs. */
  readonly year?: number | undefined;
  /** Epoch ms no line of the input is later than (its file's mtime, or now). */
  readonly referenceMs: number;
}

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};
// A day of slack before a year-less time counts as later than the reference: zone and clock skew.
const YEAR_SLACK_MS = 86_400_000;

const ISO = /^(\S+) /;
const CTIME = /^\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\]/;
const SYSLOG = /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? /;

/**
 * Local wall time to epoch µs; -1 when the date does not exist (Feb 30). (A local time that a
 * daylight-saving change skipped is taken as Date takes it: an hour on.)
 */
function localUs(year: number, month: number, day: number, h: number, m: number, s: number, fracUs: number): number {
  if (h > 23 || m > 59 || s > 60) return -1;
  const d = new Date(year, month, day, h, m, s);
  if (d.getMonth() !== month || d.getDate() !== day) return -1;
  return d.getTime() * 1000 + fracUs;
}

function fraction(digits: string | undefined): number {
  return digits === undefined ? 0 : Number(digits.padEnd(6, '0').slice(0, 6));
}

/** The line's wall-clock time in epoch µs, or -1 when its form has none (or it does not parse). */
export function lineWallUs(line: string, info: LogLine, ctx: ClockContext): number {
  const at = info.clockAt;
  if (at < 0) return -1;
  const text = at === 0 ? line : line.slice(at);
  switch (info.format) {
    case 'dmesg-iso':
    case 'journal-iso': {
      const m = ISO.exec(text);
      return m === null ? -1 : (parseRfc3339Us(m[1] as string) ?? -1);
    }
    case 'dmesg-T':
    case 'dmesg-x': {
      const m = CTIME.exec(text);
      const month = m === null ? undefined : MONTHS[m[1] as string];
      if (m === null || month === undefined) return -1;
      return localUs(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), 0);
    }
    case 'journal': {
      const m = SYSLOG.exec(text);
      const month = m === null ? undefined : MONTHS[m[1] as string];
      if (m === null || month === undefined) return -1;
      const fields = [month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), fraction(m[6])] as const;
      if (ctx.year !== undefined) return localUs(ctx.year, ...fields);
      const year = new Date(ctx.referenceMs).getFullYear();
      const us = localUs(year, ...fields);
      if (us >= 0 && us <= (ctx.referenceMs + YEAR_SLACK_MS) * 1000) return us;
      return localUs(year - 1, ...fields);
    }
    default:
      return -1;
  }
}
