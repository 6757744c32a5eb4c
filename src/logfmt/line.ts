/**
 * Which kernel log form a text line is in, detected line by line (pure), and where its message
 * starts. The forms are those people have at hand:
 *   kmsg               `PRIO,SEQ,TS_USEC,FLAGS[,..];MESSAGE`  (cat /dev/kmsg; Documentation/ABI/testing/dev-kmsg)
 *   kmsg-dict          ` KEY=VALUE` continuation lines of a kmsg record
 *   dmesg              `[   12.345678] MESSAGE`             (also with a `[  T123] ` caller id)
 *   dmesg-raw          `<PRIO>[   12.345678] MESSAGE`       (dmesg -r)
 *   dmesg-x            `kern  :err   : [   12.345678] MESSAGE` (dmesg -x)
 *   dmesg-T            `[Sat Nov 28 05:26:58 2026] MESSAGE`  (dmesg -T)
 *   dmesg-iso          `2026-11-28T05:26:58,123456+00:00 MESSAGE` (dmesg --time-format iso)
 *   journal            `Nov 28 05:26:58[.123456] HOST kernel: MESSAGE` (journalctl -k, short / short-precise)
 *   journal-monotonic  `[   12.345678] HOST kernel: MESSAGE` (journalctl -k -o short-monotonic)
 *   journal-iso        `2026-11-28T05:26:58+0000 HOST kernel: MESSAGE` (journalctl -o short-iso)
 *                      (the journal forms are also syslog's: /var/log/kern.log, where the message
 *                      may still start with the kernel's `[   12.345678] ` stamp)
 *   journal-marker     `-- Boot 0123... --`, `-- No entries --`, `-- Logs begin at ... --`
 *   wrapped            a kernel line inside another program's line: a JSON or logfmt string
 *                      (`{"log":"..."}`, `"textPayload": "..."`, `msg="..."`), a container runtime's
 *                      `TIME stdout F ...`, a console log's own prefix before the kernel's
 *                      `[   12.345678] ` stamp, `... kernel: MESSAGE`, or any prefix before one of
 *                      the OOM report's own texts (`invoked oom-killer:`, `Killed process`, ...)
 *   bare               anything else: the message itself (dmesg -t, a pasted report)
 *   malformed          a kmsg record prefix that is there but wrong
 * Times are read in any locale's day and month names (`[Sa Dez  5 ...]`, `[sam. déc.  5 ...]`),
 * and syslog or journal lines may come without the host name.
 * Only kmsg and dmesg-x carry the facility (dmesg -r prints the level alone); journalctl names the identifier, and any
 * identifier but `kernel` is userspace.
 */
import { newKmsgPrefix, scanKmsgPrefix, type KmsgPrefix } from '../kmsg/record.js';

export type LogFormat =
  | 'kmsg'
  | 'kmsg-dict'
  | 'dmesg'
  | 'dmesg-raw'
  | 'dmesg-x'
  | 'dmesg-T'
  | 'dmesg-iso'
  | 'journal'
  | 'journal-monotonic'
  | 'journal-iso'
  | 'journal-marker'
  | 'wrapped'
  | 'bare'
  | 'malformed';

export const LOG_FORMATS: readonly LogFormat[] = [
  'kmsg', 'kmsg-dict', 'dmesg', 'dmesg-raw', 'dmesg-x', 'dmesg-T', 'dmesg-iso', 'journal',
  'journal-monotonic', 'journal-iso', 'journal-marker', 'wrapped', 'bare', 'malformed',
];

/** The result of `detectLine`; one object is reused for every line (no allocation per line). */
export interface LogLine {
  format: LogFormat;
  /** Index in the line where the message starts. */
  messageStart: number;
  /** kmsg SEQ, or -1. */
  seq: number;
  /** The kernel's timestamp in µs since boot (kmsg, dmesg `[s.us]`), or -1. */
  tsUs: number;
  /** Syslog facility (0 = kernel), or -1 when the form does not say. */
  facility: number;
  /** Syslog level, or -1. */
  level: number;
  /** The message still holds the kernel's `\xNN` escapes (kmsg, dmesg). */
  escaped: boolean;
  /** A journal marker that starts another boot's log (`-- Boot ... --`, `-- Reboot --`). */
  boot: boolean;
  /**
   * Index where the line's own wall-clock time starts (dmesg -T, dmesg --time-format iso, the
   * journal's and syslog's time), or -1 when the line has none; logfmt/clock.ts reads it.
   */
  clockAt: number;
  /** The kmsg record prefix as scanned (kind 'none' when the line does not start like a record). */
  readonly kmsg: KmsgPrefix;
  /**
   * A 'wrapped' line's inner text, decoded from its quotes, that messageStart indexes; null when
   * messageStart indexes the line itself.
   */
  inner: string | null;
  /** clockAt indexes the outer line although `inner` is set (the wrapper's own time). */
  clockOuter: boolean;
  /**
   * The source stream the line belongs to: '' for a log of one source; a journal or syslog line's
   * host; a wrapped line's wrapper with its times and counters taken out. Reports are read per stream.
   */
  stream: string;
}

export function newLogLine(): LogLine {
  return {
    format: 'bare', messageStart: 0, seq: -1, tsUs: -1, facility: -1, level: -1, escaped: false, boot: false,
    clockAt: -1, kmsg: newKmsgPrefix(), inner: null, clockOuter: false, stream: '',
  };
}

/** Parse unsigned decimal digits of `s` in [from, to); -1 when empty, not digits or unsafe. */
function decimal(s: string, from: number, to: number): number {
  if (to <= from || to - from > 16) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * `[   12.345678] ` at `from`: puts the µs value in `out.tsUs` and returns the index after the
 * space, or returns -1 and leaves `out` alone. The kernel prints seconds and exactly six digits of
 * microseconds.
 */
function secondsBracket(s: string, from: number, out: LogLine): number {
  if (s.charCodeAt(from) !== 91 /* [ */) return -1;
  let i = from + 1;
  while (s.charCodeAt(i) === 32) i++;
  const dot = s.indexOf('.', i);
  if (dot < 0 || dot - i > 12) return -1;
  const secs = decimal(s, i, dot);
  if (secs < 0 || s.charCodeAt(dot + 7) !== 93 /* ] */ || s.charCodeAt(dot + 8) !== 32) return -1;
  const us = decimal(s, dot + 1, dot + 7);
  if (us < 0) return -1;
  out.tsUs = secs * 1_000_000 + us;
  return dot + 9;
}

// dmesg with CONFIG_PRINTK_CALLER prints the caller after the time: `[  T123] ` or `[ C1] `.
const CALLER = /^\[ *[TC]\d+\] /;

function skipCaller(s: string, at: number): number {
  if (s.charCodeAt(at) !== 91) return at;
  const m = CALLER.exec(s.slice(at, at + 16));
  return m === null ? at : at + m[0].length;
}

const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11, res0: 12, res1: 13, res2: 14, res3: 15, local0: 16, local1: 17, local2: 18,
  local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};
const LEVELS: Readonly<Record<string, number>> = {
  emerg: 0, alert: 1, crit: 2, err: 3, warn: 4, notice: 5, info: 6, debug: 7,
};
const DMESG_X = /^([a-z0-9]+) *:([a-z]+) *: /;
// dmesg -T prints ctime with the locale's day and month names (`Sat Nov`, `Sa Dez`, `sam. déc.`, `土 12月`).
const DMESG_T = /^\[[^\]\s\d]{1,8} [^\]\s]{1,8} [ \d]\d \d\d:\d\d:\d\d \d{4}\] /;
// The journal's and syslog's `Nov 28 05:26:58`, journalctl's month name in the locale too.
const SYSLOG_TIME = /^\p{L}[\p{L}.]{1,5} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,9})? /u;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d) /;
// After the time, journalctl prints `HOST IDENTIFIER[PID]: ` (the kernel's identifier is `kernel`);
// a syslog written without host names (and some pastes) has `IDENTIFIER[PID]: ` alone. A host
// never ends in `:`, so `kernel: a: b` is the kernel's `a: b`, not host `kernel:`'s identifier `a`.
const JOURNAL_SOURCE = /^(?:(\S*[^\s:]) )?([^\s:[\]]+)(\[\d+\])?: /;

/**
 * Journal source after the time at `at`: returns the message start and sets `out.facility` (0 for
 * the identifier `kernel`, else 1: userspace), or returns -1 and leaves `out` alone when the text
 * after the time is not `HOST IDENT: `. With `strict` (a time form dmesg shares), only `kernel` or an
 * identifier with `[pid]` count, so a kernel message like `usb 1-1: ...` stays dmesg.
 */
function journalSource(s: string, at: number, strict: boolean, out: LogLine): number {
  const m = JOURNAL_SOURCE.exec(at === 0 ? s : s.slice(at));
  if (m === null) return -1;
  const ident = m[2] as string;
  // The kernel itself prints `comm[pid]: segfault at ...`: after a dmesg time, a line without a
  // host is a journal line only for the identifier `kernel`.
  if (strict && ident !== 'kernel' && (m[3] === undefined || m[1] === undefined)) return -1;
  out.facility = ident === 'kernel' ? 0 : 1;
  out.stream = m[1] ?? '';
  return at + m[0].length;
}

function set(out: LogLine, format: LogFormat, messageStart: number, escaped: boolean): void {
  out.format = format;
  out.messageStart = messageStart;
  out.escaped = escaped;
}

/**
 * A syslog file (/var/log/kern.log, /var/log/messages) has the journal's layout, and klogd/rsyslog
 * kept the kernel's `[   12.345678] ` stamp at the start of the message: take it as the time.
 */
function journalMessage(line: string, out: LogLine, format: LogFormat, at: number): void {
  const after = secondsBracket(line, at, out);
  set(out, format, after >= 0 ? after : at, false);
}

/**
 * Detect the form of one line (no trailing newline) into `out`. Never throws. A kmsg record prefix
 * that is there but wrong is `malformed`; anything unrecognised is a `bare` message.
 */
export function detectLine(line: string, out: LogLine, prevWasKmsg = false): void {
  out.seq = -1;
  out.tsUs = -1;
  out.facility = -1;
  out.level = -1;
  out.boot = false;
  out.clockAt = -1;
  out.inner = null;
  out.clockOuter = false;
  out.stream = '';
  const k = scanKmsgPrefix(line, 0, line.length, out.kmsg);
  if (k.kind === 'record') {
    out.seq = k.seq;
    out.tsUs = k.tsUsec;
    out.facility = k.prio >> 3;
    out.level = k.prio & 7;
    set(out, 'kmsg', k.messageStart, true);
    return;
  }
  if (k.kind === 'malformed') {
    // Keep the SEQ: the record was there, so its number is no gap.
    out.seq = k.seq;
    set(out, 'malformed', 0, false);
    return;
  }
  const c = line.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    const iso = ISO_TIME.exec(line);
    if (iso !== null) {
      out.clockAt = 0;
      const cri = depth > 0 ? null : CRI_STREAM.exec(line.slice(iso[0].length, iso[0].length + 10));
      if (cri !== null) {
        // containerd/CRI-O's container log: `TIME stdout|stderr F|P TEXT`.
        const at = iso[0].length + cri[0].length;
        wrapped(line, out, line.slice(at), at, cri[0].slice(0, 6), true);
        return;
      }
      const j = journalSource(line, iso[0].length, true, out);
      if (j >= 0) {
        journalMessage(line, out, 'journal-iso', j);
        return;
      }
      if (depth === 0) {
        // Many programs stamp the lines they pass on with an RFC 3339 time (a CI job's log, `ts`,
        // a log shipper): a kernel line of any form may follow it.
        const at = iso[0].length;
        wrapped(line, out, line.slice(at), at, '', false);
        if (out.format !== 'bare') return;
        out.clockAt = 0;
      }
      set(out, 'dmesg-iso', iso[0].length, true);
      return;
    }
    unwrap(line, out);
    return;
  }
  if (c === 32 /* space */ && prevWasKmsg) {
    const eq = line.indexOf('=');
    if (eq > 1 && /^ [A-Z_]+=/.test(line.slice(0, eq + 1))) {
      set(out, 'kmsg-dict', 0, false);
      return;
    }
  }
  if (c === 91 /* [ */) {
    const at = secondsBracket(line, 0, out);
    if (at >= 0) {
      const j = journalSource(line, at, true, out);
      if (j >= 0) {
        // journalctl's monotonic time is when journald read the record, not the kernel's stamp.
        out.tsUs = -1;
        journalMessage(line, out, 'journal-monotonic', j);
        return;
      }
      set(out, 'dmesg', skipCaller(line, at), true);
      return;
    }
    const t = DMESG_T.exec(line);
    if (t !== null) {
      out.clockAt = 0;
      set(out, 'dmesg-T', skipCaller(line, t[0].length), true);
      return;
    }
    unwrap(line, out);
    return;
  }
  if (c === 60 /* < */) {
    const close = line.indexOf('>');
    const prio = close > 1 && close <= 4 ? decimal(line, 1, close) : -1;
    if (prio >= 0 && prio <= 191) {
      // util-linux dmesg -r prints the level alone for records it read from /dev/kmsg (a forged
      // LOG_USER record shows as <3>): only a value ≥ 8 says the facility, and then it is foreign.
      out.facility = prio >= 8 ? prio >> 3 : -1;
      out.level = prio & 7;
      const at = secondsBracket(line, close + 1, out);
      set(out, 'dmesg-raw', at >= 0 ? skipCaller(line, at) : close + 1, true);
      return;
    }
    unwrap(line, out);
    return;
  }
  if (c === 45 /* - */ && line.startsWith('-- ')) {
    out.boot = line.startsWith('-- Boot ') || line.startsWith('-- Reboot');
    set(out, 'journal-marker', line.length, false);
    return;
  }
  if (c >= 97 && c <= 122 /* a-z */) {
    const x = DMESG_X.exec(line);
    if (x !== null) {
      const fac = FACILITIES[x[1] as string];
      const lvl = LEVELS[x[2] as string];
      if (fac !== undefined && lvl !== undefined) {
        out.facility = fac;
        out.level = lvl;
        let at = secondsBracket(line, x[0].length, out);
        if (at < 0) {
          at = x[0].length;
          const t = DMESG_T.exec(line.slice(at));
          if (t !== null) {
            out.clockAt = at;
            at += t[0].length;
          }
        }
        set(out, 'dmesg-x', skipCaller(line, at), true);
        return;
      }
    }
  }
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127) {
    const t = SYSLOG_TIME.exec(line);
    if (t !== null) {
      const j = journalSource(line, t[0].length, false, out);
      if (j >= 0) {
        out.clockAt = 0;
        journalMessage(line, out, 'journal', j);
        return;
      }
    }
  }
  unwrap(line, out);
}

const CRI_STREAM = /^(?:stdout|stderr) [FP] /;
/** How deep detectLine is inside a wrapper's text (0: the line itself). */
let depth = 0;
// Where a kernel message starts inside another program's line, best first: the kernel's own
// `[   12.345678] ` stamp, the syslog identifier `kernel: `, then the OOM report's own texts.
const STAMP_ANYWHERE = /\[ *\d{1,12}\.\d{6}\] /;
const KERNEL_IDENT = /(?:^|[\s\]|])kernel: /;
const OOM_ANCHOR =
  /(?:Memory cgroup out of memory: |Out of memory(?: \(oom_kill_allocating_task\))?: |Out of memory and no killable|Killed process \d|oom-kill:constraint=|Memory cgroup stats for |Tasks state \(memory|Task in \/|Tasks in \/|oom_reaper: |\S+: \d+ callbacks suppressed|memory: usage \d|\[ *pid *\] +uid|\[ *\d+\] +\d+ +\d+ +\d+ +\d+ )/;
const INVOKED = ' invoked oom-killer: ';
// A JSON or logfmt field that carries a log line as a quoted string.
const QUOTED_MESSAGE = /(?:"(?:log|msg|message|MESSAGE|Message|textPayload)"\s*:\s*"|\b(?:msg|message)=")/;
const ISO_ANYWHERE = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)/;

/** End of the quoted string that starts at `from` (index of its closing quote), or the text's end. */
function closingQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \\ */) i++;
    else if (c === 34 /* " */) return i;
  }
  return s.length;
}

const JSON_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '"': '"', '\\': '\\', '/': '/' };

/**
 * A JSON or Go-quoted string's text, escapes decoded; the line ends it carried (`\n`, `\r\n`, also
 * escaped twice, as a serial console's text exported by a logging service is) are dropped.
 */
function unquote(s: string): string {
  const out = s.indexOf('\\') < 0 ? s : s.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (all, e: string) => {
    if (e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    return JSON_ESCAPES[e] ?? all;
  });
  return out.replace(/(?:\r|\n|\\r|\\n)+$/, '');
}

/** A wrapper's text as a stream name: its times, stamps and long numbers (ids, counters) taken out. */
function streamOf(wrapper: string): string {
  return wrapper
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?/g, '')
    .replace(/(?:\p{L}[\p{L}.]{1,5} [ \d]\d )?\d\d:\d\d:\d\d(?:[.,]\d+)?/gu, '')
    .replace(/\[ *\d+(?:\.\d+)?\]|\d{4,}|[0-9a-f]{8,}/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * `text` (the wrapped line's inner text; `base` its index in `line` when it is a slice of the
 * line, else -1) may hold a kernel line: detect it as a line of its own, with its message found by
 * anchors when its own form is unknown. `wrapper` is the rest of the outer line: the stream's name
 * and, when the inner line has no time, the time. An inner text of no form and no anchor is the
 * message itself when `bareIsMessage` (a JSON string, a runtime's log line); else the line stays
 * 'bare' for the caller to decide.
 */
function wrapped(line: string, out: LogLine, text: string, base: number, wrapper: string, bareIsMessage: boolean): void {
  depth++;
  try {
    detectLine(text, out);
  } finally {
    depth--;
  }
  if (out.format === 'bare') {
    if (!bareIsMessage) return;
    // Still the kernel's text: its `\xNN` escapes are decoded like any kernel line's.
    set(out, 'wrapped', 0, true);
  }
  const innerStream = out.stream;
  out.format = 'wrapped';
  out.inner = text;
  if (out.clockAt < 0) {
    const iso = ISO_ANYWHERE.exec(line);
    if (iso !== null && (base < 0 || iso.index < base || iso.index >= base + text.length)) {
      out.clockAt = iso.index;
      out.clockOuter = true;
    }
  }
  const outer = streamOf(wrapper);
  out.stream = innerStream === '' ? outer : `${outer} ${innerStream}`;
}

/**
 * A line of no known form: the kernel's message inside another program's line, or a bare message.
 * Anchored on the kernel's own text, never on the prefix: a quoted string that carries a log
 * line; else the kernel's `[ s.us] ` stamp; else `kernel: `; else the OOM report's own texts.
 */
function unwrap(line: string, out: LogLine): void {
  set(out, 'bare', 0, false);
  // Inside a wrapper's text already: anchors only (a wrapper in a wrapper is not looked into).
  const q = depth > 0 ? null : QUOTED_MESSAGE.exec(line);
  if (q !== null) {
    const from = q.index + q[0].length;
    const close = closingQuote(line, from);
    // The string is a log line, or the message itself (`"message": "Memory cgroup out of memory: ..."`).
    wrapped(line, out, unquote(line.slice(from, close)), -1, line.slice(0, q.index) + line.slice(close + 1), true);
    return;
  }
  anchor(line, out);
}

/** Message start in `text` by anchors: sets 'wrapped' when one is found, else leaves it 'bare'. */
function anchor(text: string, out: LogLine): void {
  let start = -1;
  let prefixEnd = -1;
  const st = STAMP_ANYWHERE.exec(text);
  if (st !== null) {
    prefixEnd = st.index;
    start = skipCaller(text, secondsBracket(text, st.index, out));
    if (KERNEL_IDENT.test(text.slice(Math.max(0, st.index - 9), st.index))) out.facility = 0;
  } else {
    const k = KERNEL_IDENT.exec(text);
    if (k !== null) {
      prefixEnd = k.index;
      start = k.index + k[0].length;
      const after = secondsBracket(text, start, out);
      if (after >= 0) start = after;
      out.facility = 0;
    } else {
      start = anchorAt(text);
      prefixEnd = start;
    }
  }
  if (start <= 0) {
    // No kernel text, or nothing before it: a bare message.
    out.tsUs = -1;
    out.facility = -1;
    return;
  }
  set(out, 'wrapped', start, true);
  const iso = ISO_ANYWHERE.exec(text);
  if (iso !== null && iso.index < start) out.clockAt = iso.index;
  out.stream = streamOf(text.slice(0, prefixEnd));
}

/** Start of the first OOM report text in `text`, or -1. */
function anchorAt(text: string): number {
  const inv = text.indexOf(INVOKED);
  if (inv > 0) {
    // `<comm> invoked oom-killer:`: the comm (≤ 15 bytes, may hold spaces) starts after the
    // wrapper's last separator (`: `, `] `, `| `, a tab, two spaces), else after the last space.
    const head = text.slice(Math.max(0, inv - 16), inv);
    const sep = Math.max(head.lastIndexOf(': '), head.lastIndexOf('] '), head.lastIndexOf('| '), head.lastIndexOf('  '));
    const from = inv - head.length;
    if (sep >= 0) return from + sep + 2;
    const tab = head.lastIndexOf('\t');
    if (tab >= 0) return from + tab + 1;
    if (head.length < 16) return from;
    const sp = head.lastIndexOf(' ');
    return sp >= 0 ? from + sp + 1 : from;
  }
  const m = OOM_ANCHOR.exec(text);
  return m === null ? -1 : m.index;
}
