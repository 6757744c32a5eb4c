import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { OomwatchError, UsageError, isErrno } from '../errors.js';
import { killTime, parseRfc3339Us } from '../kmsg/wallClock.js';
import { KernelLogFeeder, MAX_LINE_CHARS, type FeedStats } from '../logfmt/feed.js';
import type { OomKillEvent } from '../oom/event.js';
import { OomReportParser, type OomParserStats } from '../oom/report.js';
import { action, stopQuietlyOnEpipe } from './common.js';
import { killPrinter } from './killOutput.js';

const HELP = `
Reads a kernel log and prints every process the kernel's OOM killer killed, once, in input order.
The form is detected line by line, so mixed or concatenated logs work:
  raw /dev/kmsg records   (cat /dev/kmsg, as root)       PRIO,SEQ,TS_USEC,FLAGS;MESSAGE
  dmesg                   (also -r, -x, -T, --time-format iso)
  journalctl -k           (-o short, short-precise, short-monotonic, short-iso)
  syslog files            (/var/log/kern.log, /var/log/messages)
  bare messages           (dmesg -t, a report pasted from a ticket)
  wrapped lines           any of these inside another program's line: JSON ({"log":"..."},
                          "message": "..."), logfmt (msg="..."), a container runtime's log,
                          a console or hypervisor log, kubectl describe, any unknown prefix
Dates in dmesg -T and journal lines are read in other locales' day and month names too
(German, French, Spanish, Italian, Portuguese, Dutch), and syslog lines may lack the host.
Each kernel message is found by its own text (Killed process, invoked oom-killer:, ...),
never by the prefix; a prefix's time is used when it is one of the forms above or an
RFC 3339 time. Lines are read per source (a journal's host, a wrapper's shape), so reports
of interleaved sources are not mixed up.

A kill line that is cut short or garbled still counts (partial: true, unread fields null);
a line cut in two by a terminal is joined when the two halves make the kernel's whole line.
A \`Kill process N ... or sacrifice child\` line (kernels up to 5.0) without its \`Killed
process\` line counts as a kill of N with possibly_child: true (the kernel may have killed
a child of N); with its \`Killed process\` line it is one kill, never two.

Only raw records (cat /dev/kmsg) and dmesg -x say which lines came from the kernel: lines
that userspace wrote to /dev/kmsg are then ignored, whatever they say, and counted as
"foreign"; journalctl -k names the identifier, and lines not from "kernel" are foreign too.
In plain dmesg, dmesg -r, dmesg -T, bare text and wrapped lines a forged line looks like the
kernel's (the summary says how many lines came without a facility): a pasted log is trusted.
Gaps in raw records' sequence numbers are reported as lost records. A line that is there but
wrong is counted as malformed and skipped; parsing always goes on.

Output: a table, or with --json one JSON object per kill (JSON Lines) with the keys
  pid process scope constraint oom_cgroup victim_cgroup uid total_vm_kb anon_rss_kb
  file_rss_kb shmem_rss_kb pgtables_kb oom_score_adj group_kill partial possibly_child
  trigger_process seq
  kernel_time_us kill_time unit runtime container_id pod_uid pod_qos memory memory_stat
  mem_info candidates candidates_total
(null where the kernel did not say). A summary goes to stderr.

kill_time (RFC 3339, UTC) is the kill line's own time where the form prints one (dmesg -T,
--time-format iso, journalctl short/short-precise/short-iso, syslog); else, with --boot-time,
that time plus the line's kernel timestamp (raw records, dmesg, dmesg -r/-x); else null.
dmesg -T and journal/syslog times are local: they are read in this process's zone (set TZ to
the zone of the machine that printed them). A time without a year (journal short, syslog) takes
--year, else the year that puts it before the file's last change (or now, for standard input).
The table shows kill_time when known, else the kernel timestamp.

Examples:
  sudo dmesg -x | oomwatch parse
  oomwatch parse --boot-time "$(date -u -d "$(uptime -s)" +%FT%TZ)" saved-dmesg.txt   (this boot; docs/time.md: after a suspend)
  sudo cat /dev/kmsg | oomwatch parse --json        (follows the log; Ctrl-C to stop)
  journalctl -k -b -1 | oomwatch parse --json | jq 'select(.pod_uid != null)'
  oomwatch parse /var/log/kern.log saved-dmesg.txt`;

export function summaryText(p: OomParserStats, f: FeedStats): string {
  const formats = Object.entries(f.formats)
    .filter(([k, n]) => n > 0 && k !== 'malformed')
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `oomwatch parse: ${p.kills} kill${p.kills === 1 ? '' : 's'}` +
      (p.headerlessKills > 0 ? ` (${p.headerlessKills} without their report's header)` : '') +
      (p.partialKills > 0
        ? ` (${p.partialKills} partial${p.possiblyChildKills > 0 ? `, ${p.possiblyChildKills} from a \`Kill process\` line alone: possibly a child` : ''})`
        : '') +
      `, ${p.reports} OOM report${p.reports === 1 ? '' : 's'}` +
      (p.reportsWithoutKill > 0 ? ` (${p.reportsWithoutKill} without a kill)` : '') +
      `, ${p.lost} lost record${p.lost === 1 ? '' : 's'}, ${p.foreign} foreign record${p.foreign === 1 ? '' : 's'} ignored, ` +
      `${f.malformed} malformed line${f.malformed === 1 ? '' : 's'}`,
    `  ${f.lines} line${f.lines === 1 ? '' : 's'}${formats === '' ? '' : `: ${formats}`}` +
      (p.duplicateKills > 0 ? `; ${p.duplicateKills} repeated group-kill line${p.duplicateKills === 1 ? '' : 's'}` : '') +
      (p.suppressed > 0 ? `; kernel suppressed ${p.suppressed} report header${p.suppressed === 1 ? '' : 's'}` : ''),
  ];
  for (const m of f.malformedExamples) {
    const why = m.chars === undefined ? '' : `${m.chars} characters, longer than any kernel line (kept: the first ${MAX_LINE_CHARS}): `;
    lines.push(`  malformed: ${m.source}:${m.line}: ${why}${JSON.stringify(m.text)}`);
  }
  if (f.noFacility > 0) {
    lines.push(
      `  ${f.noFacility} line${f.noFacility === 1 ? ' has' : 's have'} no facility (plain dmesg, dmesg -r/-T, bare text): ` +
        "lines written by userspace cannot be told from the kernel's; use `dmesg -x`, `journalctl -k` or /dev/kmsg",
    );
  }
  return `${lines.join('\n')}\n`;
}

async function writeOut(text: string): Promise<void> {
  if (text === '') return;
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
  }
}

/**
 * A file is read synchronously in 64 KiB pieces: a CLI has nothing else to do meanwhile, and this
 * is the fastest way through a large log. The feeder reads raw records in the bytes (writeBytes):
 * no piece is decoded whole unless its lines are of another form. Each piece is still searched as
 * a one-byte string as long, so pieces stay well below V8's large-object size (1M records: 1 MiB
 * pieces peaked 20 MB higher when each became a string). Kills are written out after every piece.
 */
async function feedFile(file: string, feeder: KernelLogFeeder, flush: () => Promise<void>): Promise<void> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'EACCES', 'EPERM')) {
      throw new OomwatchError('EIO', `cannot read ${file}: ${err.code}`, { cause: err });
    }
    throw err;
  }
  try {
    // A file is never older than its lines: its mtime gives year-less times their year.
    feeder.begin(file, fstatSync(fd).mtimeMs);
    const buf = Buffer.allocUnsafe(64 << 10);
    for (;;) {
      let got: number;
      try {
        got = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if (isErrno(err, 'EISDIR')) throw new OomwatchError('EIO', `cannot read ${file}: it is a directory`, { cause: err });
        // EAGAIN: a non-blocking source (a FIFO, /dev/kmsg) has nothing more for now: stop here.
        if (isErrno(err, 'EAGAIN')) break;
        throw err;
      }
      if (got === 0) break;
      feeder.writeBytes(buf.subarray(0, got));
      await flush();
    }
  } finally {
    closeSync(fd);
  }
}

async function feedStream(stream: Readable, feeder: KernelLogFeeder, flush: () => Promise<void>): Promise<void> {
  stream.setEncoding('utf8');
  for await (const chunk of stream) {
    feeder.write(chunk as string);
    await flush();
  }
}

function parseBootTime(raw: string): number {
  const us = parseRfc3339Us(raw);
  if (us === undefined) throw new UsageError(`--boot-time ${JSON.stringify(raw)}: want an RFC 3339 time, e.g. 2026-11-28T05:20:38Z`);
  return us;
}

function parseYear(raw: string): number {
  const y = Number(raw);
  if (!/^\d{4}$/.test(raw) || y < 1970) throw new UsageError(`--year ${JSON.stringify(raw)}: want a four-digit year, e.g. 2026`);
  return y;
}

/** The options `parse` and `explain` read a kernel log with. */
export interface KernelLogOptions {
  bootTime?: string;
  year?: string;
}

/**
 * Read kernel logs (files in order, `-` or none: standard input) and hand every kill to `onKill`,
 * kill_time set from the line's own clock or --boot-time; `flush` runs after every piece read.
 * Returns the parser's and the feeder's counts for the summary.
 */
export async function readKernelLogs(
  files: readonly string[],
  opts: KernelLogOptions,
  onKill: (e: OomKillEvent) => void,
  flush: () => Promise<void> = async () => {},
): Promise<{ parser: OomParserStats; feed: FeedStats }> {
  const bootUs = opts.bootTime === undefined ? null : parseBootTime(opts.bootTime);
  const year = opts.year === undefined ? undefined : parseYear(opts.year);
  const parser = new OomReportParser({
    onKill: (e) => {
      // The line's own clock, when it had one, wins.
      e.kill_time ??= killTime(e.kernel_time_us, bootUs);
      onKill(e);
    },
  });
  const feeder = new KernelLogFeeder(parser, { year });
  // A follower (cat /dev/kmsg) never ends: emit a held kill when the input pauses.
  const idle = setInterval(() => {
    parser.idle();
    void flush();
  }, 200);
  try {
    for (const file of files.length === 0 ? ['-'] : files) {
      if (file === '-') {
        feeder.begin('<stdin>');
        await feedStream(process.stdin, feeder, flush);
      } else {
        await feedFile(file, feeder, flush);
      }
    }
    feeder.end();
  } finally {
    clearInterval(idle);
  }
  return { parser: parser.stats, feed: feeder.stats };
}

/**
 * A parse is one hot loop, over the whole input, in a short-lived process: where Maglev is on, V8
 * 13 and later (Node 24+), it runs as fast on Maglev alone as with TurboFan as well (the 1M-record
 * file, one core), and TurboFan's own code and zones are ≈ 6.5 MB of its peak RSS (bench/README.md,
 * "The parse without TurboFan"). The flag only stops functions from being sent to TurboFan, so it is
 * set before the loop runs. Node 20 and 22 (V8 11.3, 12.4) ship with Maglev off (`--no-maglev` in
 * `node --v8-options`): there TurboFan stays, or the loop would stay in the baseline compiler.
 */
function parseWithoutTurbofan(): void {
  if (Number.parseInt(process.versions.v8, 10) >= 13) setFlagsFromString('--no-turbofan');
}

/** `oomwatch parse`: the kills to stdout (a table, or JSON Lines with --json), the summary to stderr. */
async function runParse(files: string[], opts: { json?: boolean } & KernelLogOptions): Promise<void> {
  parseWithoutTurbofan();
  let out = '';
  const print = killPrinter(opts.json === true);
  const flush = async (): Promise<void> => {
    const text = out;
    out = '';
    await writeOut(text);
  };
  // What was printed so far goes out also when reading fails.
  const stats = await readKernelLogs(files, opts, (e) => (out += print(e)), flush).finally(flush);
  process.stderr.write(summaryText(stats.parser, stats.feed));
}

export function registerParse(program: Command): void {
  program
    .command('parse')
    .description('find the OOM kills in a kernel log (raw /dev/kmsg, dmesg, journalctl -k or bare text)')
    .argument('[file...]', 'log files to read, in order; - is standard input (default: standard input)')
    .option('--json', 'print one JSON object per kill (JSON Lines)')
    .option('--boot-time <time>', "the boot's wall-clock time (RFC 3339): kill_time for lines with a kernel timestamp and no clock of their own")
    .option('--year <year>', 'the year of times printed without one (journal short, syslog)')
    .addHelpText('after', HELP)
    .action(action(runParse));
}

/**
 * `parse`'s arguments (after the word `parse`) when they are nothing but file names, `-` and
 * `--json`, read as commander reads them; null for anything else (another option, `--`, a name
 * that starts with `-`, --help): commander then reads the command line.
 */
export function plainParseArgs(args: readonly string[]): { files: string[]; json: boolean } | null {
  const files: string[] = [];
  let json = false;
  for (const a of args) {
    if (a === '--json') json = true;
    else if (a === '-' || !a.startsWith('-')) files.push(a);
    else return null;
  }
  return { files, json };
}

/**
 * `oomwatch parse ARGS` without commander, when plainParseArgs reads ARGS (bin/oomwatch asks first):
 * loading commander (and the node:child_process it loads) costs ≈ 6–28 ms and 1.6–9 MB of a
 * parse's start on Node 20–24 (bench/README.md). Runs the same action main() would; false when
 * ARGS are not plain (nothing done).
 */
export async function runPlainParse(args: readonly string[]): Promise<boolean> {
  const plain = plainParseArgs(args);
  if (plain === null) return false;
  stopQuietlyOnEpipe();
  await action(runParse)(plain.files, { json: plain.json });
  return true;
}
