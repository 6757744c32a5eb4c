/**
 * A text log line's own wall-clock time (pure), where its form prints one (see line.ts):
 *   dmesg-iso, journal-iso  `2026-11-28T05:26:58,123456+00:00`, `2026-11-28T05:26:58+0000`: the zone is in the line
 *   dmesg-T (and dmesg -x -T)  `[Sat Nov 28 05:26:58 2026]`: ctime in the printing machine's local zone
 *   journal, syslog         `Nov 28 05:26:58[.123456]`: local zone, and no year
 *   wrapped                 the wrapper's or the inner line's time, in any of the forms above
 * Month names are read in English, German, French, Spanish, Italian, Portuguese and Dutch (dmesg -T
 * and journalctl print the locale's); a month name not known leaves the time unknown (null).
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

/** Abbreviated month names (strftime %b) as locales print them, lower case, without the dot. */
const MONTHS: Readonly<Record<string, number>> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
  // de
  'mär': 2, mrz: 2, mai: 4, okt: 9, dez: 11,
  // fr
  janv: 0, 'févr': 1, fevr: 1, mars: 2, avr: 3, juin: 5, juil: 6, 'août': 7, aout: 7, sept: 8, 'déc': 11,
  // es, it, pt, nl
  ene: 0, abr: 3, ago: 7, dic: 11, gen: 0, mag: 4, giu: 5, lug: 6, set: 8, ott: 9, fev: 1, out: 9, mrt: 2, mei: 4,
};

function monthOf(name: string): number | undefined {
  const key = name.toLowerCase().replace(/\.$/, '');
  return MONTHS[key];
}
// A day of slack before a year-less time counts as later than the reference: zone and clock skew.
const YEAR_SLACK_MS = 86_400_000;

const ISO = /^(\S+) /;
const CTIME = /^\[[^\]\s\d]{1,8} ([^\]\s]{1,8}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})\]/;
const SYSLOG = /^(\p{L}[\p{L}.]{1,5}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? /u;

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
  const whole = info.inner !== null && !info.clockOuter ? info.inner : line;
  const text = at === 0 ? whole : whole.slice(at);
  switch (info.format) {
    case 'dmesg-iso':
    case 'journal-iso':
      return isoUs(text);
    case 'dmesg-T':
    case 'dmesg-x':
      return ctimeUs(text);
    case 'journal':
      return syslogUs(text, ctx);
    case 'wrapped': {
      // The wrapper's time or the inner line's own, whichever form it is.
      const c = text.charCodeAt(0);
      if (c >= 48 && c <= 57) return isoUs(text);
      if (c === 91 /* [ */) return ctimeUs(text);
      return syslogUs(text, ctx);
    }
    default:
      return -1;
  }
}

// An RFC 3339 time inside a wrapper: followed by a quote, a bar, anything.
const ISO_PREFIX = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d))/;

function isoUs(text: string): number {
  const m = ISO.exec(text);
  const us = m === null ? undefined : parseRfc3339Us(m[1] as string);
  if (us !== undefined) return us;
  const w = ISO_PREFIX.exec(text);
  return w === null ? -1 : (parseRfc3339Us(w[1] as string) ?? -1);
}

function ctimeUs(text: string): number {
  const m = CTIME.exec(text);
  const month = m === null ? undefined : monthOf(m[1] as string);
  if (m === null || month === undefined) return -1;
  return localUs(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), 0);
}

function syslogUs(text: string, ctx: ClockContext): number {
  const m = SYSLOG.exec(text);
  const month = m === null ? undefined : monthOf(m[1] as string);
  if (m === null || month === undefined) return -1;
  const fields = [month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), fraction(m[6])] as const;
  if (ctx.year !== undefined) return localUs(ctx.year, ...fields);
  const year = new Date(ctx.referenceMs).getFullYear();
  const us = localUs(year, ...fields);
  if (us >= 0 && us <= (ctx.referenceMs + YEAR_SLACK_MS) * 1000) return us;
  return localUs(year - 1, ...fields);
}
