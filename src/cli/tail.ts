/**
 * `oomwatch tail`: follow /dev/kmsg live and print each OOM kill as the kernel reports it, in
 * the same form as `oomwatch parse` (a table row, or with --json one OomKillEvent per line).
 * The reader (src/kmsg/reader.ts) delivers records in batches; src/oom/kmsgFeed.ts hands the
 * kernel's own ones to the report parser (src/oom/report.ts).
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { prepareCursorDir, readCursor, saveCursor, type KmsgCursor } from '../kmsg/cursor.js';
import { DEFAULT_POLL_INTERVAL_MS, openKmsgReader, type KmsgEvent, type KmsgPosition, type KmsgStart } from '../kmsg/reader.js';
import { killTime, readWallClockOffsetUs } from '../kmsg/wallClock.js';
import { feedKmsgEvents } from '../oom/kmsgFeed.js';
import { OomReportParser } from '../oom/report.js';
import { action, rootsOf } from './common.js';
import { killPrinter } from './killOutput.js';

interface TailOptions {
  json?: boolean;
  fromStart?: boolean;
  cursor?: string;
  pollInterval?: string;
}

/**
 * Where the help suggests keeping tail's cursor: in the daemon's state directory, beside and never
 * in its state.jsonl (each reader keeps its own position).
 */
const CURSOR_EXAMPLE = '/var/lib/oomwatch/tail.cursor';

/** Save the cursor at most this often while following (and once more at exit). */
const CURSOR_SAVE_INTERVAL_MS = 1000;

/**
 * How long after a batch the log must stay quiet before a kill held by the parser is printed.
 * The parser holds a kill line until the next message, because `Tasks in ... memory.oom.group set`
 * comes right after a group's first victim and makes it a group kill; the kernel prints both in
 * one go (mm/oom_kill.c, oom_kill_process), but a reader can read the device between the two.
 */
const IDLE_GRACE_MS = 25;

function parsePollInterval(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_POLL_INTERVAL_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.1 || n > 1000) {
    throw new UsageError(`--poll-interval ${JSON.stringify(raw)}: want milliseconds between 0.1 and 1000`);
  }
  return n;
}

function positionText(p: KmsgPosition | undefined): string {
  if (p === undefined) return '';
  switch (p.from) {
    case 'end':
      return 'from its end';
    case 'start':
      return 'from the oldest record it holds';
    case 'cursor':
      return `after record ${p.cursor.seq} (the saved cursor)`;
    default:
      return p satisfies never;
  }
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('follow the kernel log live and print each OOM kill as it happens (needs root or CAP_SYSLOG)')
    .option('--json', 'one JSON object per line')
    .addOption(new Option('--from-start', 'begin with the oldest record still in the kernel log').conflicts('cursor'))
    .option(
      '--cursor <file>',
      'resume after the position saved in FILE (same boot), and keep saving it there; a missing file starts at the end (its directory is created)',
    )
    .option(
      '--poll-interval <ms>',
      `only if the kernel cannot wake the reader (a FIFO standing in for the device): how often it looks for new records (default ${DEFAULT_POLL_INTERVAL_MS})`,
    )
    .addHelpText(
      'after',
      `
Prints each process the kernel's OOM killer kills, as it happens, exactly as \`oomwatch parse\`
does: a table row, or with --json one JSON object per kill (the same keys as parse --json).
Reads <kmsg> (default /dev/kmsg) from its end unless told otherwise; records written by userspace
(facility != kernel) are never taken for the kernel's. Lost records (the kernel log overran the
reader, or rotated away while no reader ran) are reported on stderr. With --cursor FILE, kills
that happened while tail was not running (same boot, still in the log) are printed at its next
start, and none twice. Stop with Ctrl-C (or SIGTERM): the cursor is saved, exit status 0.

Examples:
  sudo oomwatch tail
  sudo oomwatch tail --json --cursor ${CURSOR_EXAMPLE}`,
    )
    .action(
      action(async (opts: TailOptions, cmd: Command) => {
        const roots = rootsOf(cmd);
        const pollIntervalMs = parsePollInterval(opts.pollInterval);
        let from: KmsgStart = opts.fromStart ? 'start' : 'end';
        if (opts.cursor !== undefined) {
          const saved = await readCursor(opts.cursor);
          if (saved !== undefined) from = saved;
          else await prepareCursorDir(opts.cursor);
        }
        const print = killPrinter(opts.json === true);
        let out = '';
        // The boot's wall-clock offset, read again for each batch (src/kmsg/wallClock.ts).
        let wallOffsetUs = readWallClockOffsetUs();
        const parser = new OomReportParser({
          onKill: (e) => {
            e.kill_time ??= killTime(e.kernel_time_us, wallOffsetUs);
            out += print(e);
          },
        });
        const flush = (): void => {
          if (out === '') return;
          const text = out;
          out = '';
          process.stdout.write(text);
        };
        // Signals are caught from the start: one that comes while the reader is being opened still
        // ends tail cleanly (status 0, cursor saved) once it is open.
        let stop!: () => void;
        const stopped = new Promise<void>((resolve) => {
          stop = (): void => resolve();
        });
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        // A reader that went away (| head) ends tail like Ctrl-C does (the cursor is saved).
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EPIPE') stop();
          else throw err;
        });
        let dirty = false;
        let idleTimer: NodeJS.Timeout | null = null;
        const idle = (): void => {
          idleTimer = null;
          parser.idle();
          flush();
        };
        const onEvents = (events: readonly KmsgEvent[]): void => {
          if (idleTimer !== null) clearTimeout(idleTimer);
          wallOffsetUs = readWallClockOffsetUs();
          feedKmsgEvents(parser, events, {
            lost: (e) =>
              process.stderr.write(
                `oomwatch: ${e.count} kernel log record${e.count === 1 ? '' : 's'} lost (${e.reason}, seq ${e.fromSeq}..${e.nextSeq - 1}): OOM kills among them cannot be reported\n`,
              ),
            malformed: (e) => process.stderr.write(`oomwatch: skipped a malformed record: ${e.error.message}\n`),
            rewind: (e) => process.stderr.write(`oomwatch: kernel log seq went back from ${e.expectedSeq} to ${e.seq}\n`),
          });
          flush();
          idleTimer = setTimeout(idle, IDLE_GRACE_MS);
          dirty = true;
        };
        const reader = await openKmsgReader({ roots, from, onEvents, pollIntervalMs });
        reader.done.then(stop, stop);
        const position = reader.position;
        if (position?.from === 'start' && 'staleCursor' in position) {
          process.stderr.write(`oomwatch: ${opts.cursor}: saved in another boot; reading this boot's log from the start\n`);
        }

        const cursorFile = opts.cursor;
        let saving: Promise<void> = Promise.resolve();
        const save = (): Promise<void> => {
          // A kill the parser may hold (idle timer pending) is printed first: the cursor covers its
          // record, and a crash before it is printed would lose it for good. (On a busy log the
          // timer is nearly always pending; waiting for it would starve the saves.)
          if (idleTimer !== null) {
            clearTimeout(idleTimer);
            idle();
          }
          const c: KmsgCursor | undefined = reader.cursor();
          if (cursorFile === undefined || c === undefined || !dirty) return saving;
          dirty = false;
          // A failed earlier save was reported by its caller; it must not block this one.
          saving = saving.catch(() => undefined).then(() => saveCursor(cursorFile, c));
          return saving;
        };
        dirty = true; // the start position itself is worth saving
        const timer = setInterval(() => {
          save().catch((err: unknown) => {
            process.stderr.write(`oomwatch: ${(err as Error).message}\n`);
          });
        }, CURSOR_SAVE_INTERVAL_MS);

        // Said once positioned and ready to stop cleanly: every kill from here on will be printed
        // (scripts and tests wait for this line).
        const polling = reader.wakeMode === 'poll' ? ` (polling every ${pollIntervalMs} ms${reader.notifierError === undefined ? '' : `: ${reader.notifierError}`})` : '';
        process.stderr.write(`oomwatch tail: following ${reader.path} ${positionText(position)}${polling}\n`);
        await stopped;
        clearInterval(timer);
        await reader.stop();
        // Nothing is delivered after stop(): what the parser holds now is all there is.
        if (idleTimer !== null) clearTimeout(idleTimer);
        idle();
        await save();
        const s = reader.stats();
        const k = parser.stats.kills;
        process.stderr.write(
          `oomwatch tail: ${k} kill${k === 1 ? '' : 's'}; ${s.records} records (${s.foreign} from userspace, ignored), ${s.lost} lost, ${s.malformed} malformed\n`,
        );
        await reader.done; // rethrows a read failure (exit 1)
      }),
    );
}
