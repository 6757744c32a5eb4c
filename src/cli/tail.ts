/**
 * `oomwatch tail`: follow /dev/kmsg live.
 *
 * SKELETON (kmsg branch): the reader, start positions, cursor saving, signals and the summary are
 * here; the OOM report parser (src/oom/) is not wired yet, so for now it prints the kernel's own
 * records (facility 0) and warns about lost ones. Wiring: feed `record` events of kernel records and
 * `lost` events to the parser in `onEvents`, print its kill events instead of the records.
 * Not registered in main.ts yet (registerTail).
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { readCursor, saveCursor, type KmsgCursor } from '../kmsg/cursor.js';
import { DEFAULT_POLL_INTERVAL_MS, openKmsgReader, type KmsgEvent, type KmsgStart } from '../kmsg/reader.js';
import { isKernelRecord } from '../kmsg/record.js';
import { action, rootsOf } from './common.js';

interface TailOptions {
  json?: boolean;
  fromStart?: boolean;
  cursor?: string;
  pollInterval?: string;
}

/** Save the cursor at most this often while following (and once more at exit). */
const CURSOR_SAVE_INTERVAL_MS = 1000;

function parsePollInterval(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_POLL_INTERVAL_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0.1 || n > 1000) {
    throw new UsageError(`--poll-interval ${JSON.stringify(raw)}: want milliseconds between 0.1 and 1000`);
  }
  return n;
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('follow the kernel log live and print each OOM kill as it happens (needs root or CAP_SYSLOG)')
    .option('--json', 'one JSON object per line')
    .addOption(new Option('--from-start', 'begin with the oldest record still in the kernel log').conflicts('cursor'))
    .option(
      '--cursor <file>',
      'resume after the position saved in FILE (same boot), and keep saving it there; a missing file starts at the end',
    )
    .option('--poll-interval <ms>', `how often an idle reader looks for new records (default ${DEFAULT_POLL_INTERVAL_MS})`)
    .addHelpText(
      'after',
      `
Reads <kmsg> (default /dev/kmsg) from its end unless told otherwise; records written by userspace
(facility != kernel) are never taken for the kernel's. Lost records (the kernel log overran the
reader, or rotated away while no reader ran) are reported on stderr. Stop with Ctrl-C.

Examples:
  sudo oomwatch tail
  sudo oomwatch tail --json --cursor /var/lib/oomwatch/kmsg.cursor`,
    )
    .action(
      action(async (opts: TailOptions, cmd: Command) => {
        const roots = rootsOf(cmd);
        const pollIntervalMs = parsePollInterval(opts.pollInterval);
        let from: KmsgStart = opts.fromStart ? 'start' : 'end';
        if (opts.cursor !== undefined) {
          const saved = await readCursor(opts.cursor);
          if (saved !== undefined) from = saved;
        }
        let dirty = false;
        const onEvents = (events: readonly KmsgEvent[]): void => {
          const out: string[] = [];
          for (const e of events) {
            switch (e.type) {
              case 'record': {
                const r = e.record;
                if (!isKernelRecord(r)) break;
                // Placeholder until the OOM parser is wired: the kernel's records themselves.
                out.push(
                  opts.json
                    ? JSON.stringify({ seq: r.seq, kernel_time_us: r.tsUsec, level: r.level, message: r.message })
                    : `[${(r.tsUsec / 1e6).toFixed(6)}] ${r.message}`,
                );
                break;
              }
              case 'lost':
                process.stderr.write(`oomwatch: ${e.count} kernel log records lost (${e.reason}, seq ${e.fromSeq}..${e.nextSeq - 1})\n`);
                break;
              case 'malformed':
                process.stderr.write(`oomwatch: skipped a malformed record: ${e.error.message}\n`);
                break;
              case 'rewind':
                process.stderr.write(`oomwatch: kernel log seq went back from ${e.expectedSeq} to ${e.seq}\n`);
                break;
              default:
                e satisfies never;
            }
          }
          if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
          dirty = true;
        };
        const reader = await openKmsgReader({ roots, from, onEvents, pollIntervalMs });
        const position = reader.position;
        if (position?.from === 'start' && 'staleCursor' in position) {
          process.stderr.write(`oomwatch: ${opts.cursor}: saved in another boot; reading this boot's log from the start\n`);
        }

        const cursorFile = opts.cursor;
        let saving: Promise<void> = Promise.resolve();
        const save = (): Promise<void> => {
          const c: KmsgCursor | undefined = reader.cursor();
          if (cursorFile === undefined || c === undefined || !dirty) return saving;
          dirty = false;
          saving = saving.then(() => saveCursor(cursorFile, c));
          return saving;
        };
        dirty = true; // the start position itself is worth saving
        const timer = setInterval(() => {
          save().catch((err: unknown) => {
            process.stderr.write(`oomwatch: ${cursorFile}: cannot save the cursor: ${(err as Error).message}\n`);
          });
        }, CURSOR_SAVE_INTERVAL_MS);

        const stopped = new Promise<void>((resolve) => {
          const stop = (): void => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          reader.done.then(stop, stop);
        });
        await stopped;
        clearInterval(timer);
        await reader.stop();
        await save();
        const s = reader.stats();
        process.stderr.write(
          `oomwatch: ${s.records} records (${s.foreign} from userspace, ignored), ${s.lost} lost, ${s.malformed} malformed\n`,
        );
        await reader.done; // rethrows a read failure (exit 1)
      }),
    );
}
