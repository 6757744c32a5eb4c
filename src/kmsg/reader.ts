/**
 * The /dev/kmsg reader (Documentation/ABI/testing/dev-kmsg): follows the kernel log from a chosen
 * start position and delivers its records, in order and in batches, with every lost record
 * accounted for.
 *
 * It holds no thread and does not poll: the kernel wakes it through libuv's epoll loop when
 * something is logged (notifier.ts), and it then reads what is new with read() on a non-blocking
 * fd, which never blocks. Numbers: bench/kmsg-reader-latency.ts.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, ParseError, isErrno } from '../errors.js';
import type { Roots } from '../roots.js';
import { readBootId } from './bootId.js';
import type { KmsgCursor } from './cursor.js';
import { isKernelRecord, newKmsgPrefix, parseKmsgRecord, scanKmsgPrefix, type KmsgPrefix, type KmsgRecord } from './record.js';
import { openKmsgNotifier, type KmsgNotifier } from './notifier.js';
import { SeqTracker, type LossReason } from './seq.js';

/**
 * Where reading starts:
 * - `'end'`: after the last record in the buffer now (live use: old kills are not replayed);
 * - `'start'`: the oldest record still in the buffer;
 * - a cursor: strictly after `cursor.seq` when `cursor.bootId` is this boot's, else from the start.
 */
export type KmsgStart = 'end' | 'start' | KmsgCursor;

/** What the start position turned out to be. */
export type KmsgPosition =
  | { readonly from: 'end'; readonly skipped: number }
  | { readonly from: 'start' }
  /** Resumed after the cursor (same boot); `skipped` records up to cursor.seq were passed over. */
  | { readonly from: 'cursor'; readonly cursor: KmsgCursor; readonly skipped: number }
  /** The cursor is from another boot: read from the start of this boot's buffer. */
  | { readonly from: 'start'; readonly staleCursor: KmsgCursor };

/** One thing the reader saw, in log order. */
export type KmsgEvent =
  | { readonly type: 'record'; readonly record: KmsgRecord }
  /** Records that were in the log but never reached us; `count` of them, from SEQ `fromSeq`. */
  | {
      readonly type: 'lost';
      readonly reason: LossReason;
      readonly count: number;
      readonly fromSeq: number;
      readonly nextSeq: number;
    }
  /** A record whose prefix is malformed: counted and skipped. */
  | { readonly type: 'malformed'; readonly raw: string; readonly error: ParseError }
  /** SEQ went backwards (never seen on a sane kernel): accounting restarts from `seq`. */
  | { readonly type: 'rewind'; readonly expectedSeq: number; readonly seq: number };

/** Counters for the daemon's metrics. All monotonic. */
export interface KmsgReaderStats {
  /** Records read and delivered (kernel and foreign). */
  records: number;
  /** Delivered records written by userspace (facility != 0, PRIO >= 8): never the kernel's. */
  foreign: number;
  /** Records whose prefix could not be parsed (skipped). */
  malformed: number;
  /** Records lost, in total: lostOverrun + lostGap + lostBeforeStart. */
  lost: number;
  /** Lost because the ring buffer overran this reader (counted from the SEQ gap after EPIPE). */
  lostOverrun: number;
  /** Lost in a SEQ gap with no EPIPE (e.g. a record longer than the read buffer). */
  lostGap: number;
  /** Lost between a saved cursor and this start (overwritten while no reader ran). */
  lostBeforeStart: number;
  /** EPIPE errors: times the ring buffer overran this reader. */
  overruns: number;
  /** EINVAL errors: a record did not fit the read buffer (the kernel skipped it). */
  truncated: number;
  /** Records passed over to reach the start position. */
  skipped: number;
  /** Times the notifier (what wakes the reader) failed and was reopened. */
  notifierRestarts: number;
  /** Drains that found nothing to read (one read() that got EAGAIN each): wakeups for nothing. */
  emptyReads: number;
}

export interface KmsgReaderOptions {
  readonly roots: Pick<Roots, 'kmsg' | 'proc'>;
  /** Default 'end'. */
  readonly from?: KmsgStart;
  /**
   * Receives everything read, in order, one batch per wakeup. Called on the main thread; when it
   * returns, {@link KmsgReader.cursor} covers the batch (save it then, not before). The reader does
   * not catch what it throws.
   */
  readonly onEvents: (events: readonly KmsgEvent[]) => void;
  /**
   * Only when the reader polls (wakeMode 'poll': a FIFO, or no notifier): how long it waits
   * between looks at the log, in ms (default 2). It bounds the extra
   * latency and sets the idle CPU cost; see bench/kmsg-reader-latency.ts.
   */
  readonly pollIntervalMs?: number;
  /**
   * Polling: how long it waits instead once no record has come for `idleAfterMs` (default: the
   * same as pollIntervalMs, no back-off). A longer idle interval saves the wakeups of a quiet log
   * and costs latency only on the first record after the quiet spell.
   */
  readonly idlePollIntervalMs?: number;
  /** Default 1000. */
  readonly idleAfterMs?: number;
  /** false: poll even on the kernel's device (bench/kmsg-reader-latency.ts compares the two). Default true. */
  readonly notify?: boolean;
}

export const DEFAULT_POLL_INTERVAL_MS = 2;
export const DEFAULT_IDLE_AFTER_MS = 1000;
/** Bytes per read(): the kernel formats at most 8192 bytes per record (CONSOLE_EXT_LOG_MAX). */
export const READ_BUFFER_BYTES = 16384;
const BATCH_MAX = 1024;
/** More notifier failures than this within the window: give up on it and poll. */
const NOTIFIER_MAX_RESTARTS = 5;
const NOTIFIER_RESTART_WINDOW_MS = 10_000;

/** Opening /dev/kmsg was refused: reading the kernel log needs root or CAP_SYSLOG. */
export class KmsgPermissionError extends OomwatchError {
  readonly path: string;
  constructor(path: string, errno: string, dmesgRestrict: string | undefined, cause: unknown) {
    const restrict =
      dmesgRestrict === undefined
        ? ''
        : ` (kernel.dmesg_restrict=${dmesgRestrict}${dmesgRestrict === '1' ? ': only CAP_SYSLOG may read it' : ''})`;
    super(
      'ENOTROOT',
      `${path}: ${errno}: reading the kernel log needs root or CAP_SYSLOG${restrict}; run as root (sudo oomwatch ...)`,
      { cause },
    );
    this.path = path;
  }
}

function readDmesgRestrict(proc: string): string | undefined {
  try {
    return readFileSync(join(proc, 'sys/kernel/dmesg_restrict'), 'utf8').trim();
  } catch {
    // Only decorates the permission message; its absence changes nothing.
    return undefined;
  }
}

function openKmsg(roots: Pick<Roots, 'kmsg' | 'proc'>): number {
  try {
    // O_NONBLOCK: an empty log gives EAGAIN instead of a read() that nothing can interrupt.
    return openSync(roots.kmsg, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'EACCES', 'EPERM')) {
      throw new KmsgPermissionError(roots.kmsg, err.code ?? 'EPERM', readDmesgRestrict(roots.proc), err);
    }
    if (isErrno(err, 'ENOENT')) {
      throw new OomwatchError('EIO', `${roots.kmsg}: no such device; is /dev mounted here? (--kmsg moves it)`, { cause: err });
    }
    throw new OomwatchError('EIO', `${roots.kmsg}: cannot open: ${(err as Error).message}`, { cause: err });
  }
}

type Item = string | typeof ITEM_EPIPE | typeof ITEM_EINVAL;
/** Markers among the record texts, in read order: read() failed with EPIPE (overrun) or EINVAL (record too long). */
const ITEM_EPIPE = 0;
const ITEM_EINVAL = 1;
type ReadResult = string | 'EAGAIN' | 'EPIPE' | 'EINVAL' | 'EOF';

/** How the reader learns that something was logged. */
export type KmsgWakeMode =
  /** The kernel wakes it (epoll on a second fd of the device, notifier.ts): no cost while quiet. */
  | 'notify'
  /** It looks every pollIntervalMs (a FIFO standing in for the device, or no notifier). */
  | 'poll';

/**
 * One read() of the device, its error thrown without a stack trace. Every drain ends in a read
 * that fails with EAGAIN, which Node throws as an Error: without the stack trace to capture that
 * costs ≈ 2 µs warm instead of 3–5, and ≈ 10 µs instead of 20–150 cold, as it is in a kill's path
 * after a quiet second (bench/README.md). The error keeps its code and message.
 */
export function readWithoutStack(fd: number, buf: Buffer): number {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return readSync(fd, buf, 0, buf.length, null);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A running reader. Create it with {@link openKmsgReader}; end it with {@link KmsgReader.stop}.
 * `done` settles when the reader ends: resolved after stop(), rejected with an OomwatchError (code
 * EIO) when reading failed (await it, or the failure surfaces as an unhandled rejection).
 * While it runs, it keeps the process alive.
 *
 * Everything runs on the main thread: records are read with read() on a non-blocking fd (one record
 * per read(); EAGAIN when there is nothing new), all that is readable at once forms one batch, and
 * the drain runs when the notifier says the kernel logged something (or, polling, on a timer).
 */
export class KmsgReader {
  readonly bootId: string;
  readonly path: string;
  readonly done: Promise<void>;
  private readonly positionValue: KmsgPosition;
  private fd: number | undefined;
  /**
   * The kernel's device hands out exactly one record per read(). Anything else standing in for it
   * (a FIFO in tests) returns whatever was written since the last read, possibly several records:
   * those are split into records here and handed out one per readOne().
   */
  private readonly device: boolean;
  private readonly backlog: string[] = [];
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly onEvents: (events: readonly KmsgEvent[]) => void;
  private tracker: SeqTracker = new SeqTracker();
  private lastSeq: number | undefined;
  private readonly s = { records: 0, foreign: 0, malformed: 0, truncated: 0, skipped: 0, notifierRestarts: 0, emptyReads: 0 };
  /** Read while positioning, delivered first. */
  private pending: Item[] = [];
  private notifier: KmsgNotifier | undefined;
  /** The SEQ of the record behind the notifier's last wakeup (-1: none, or unknown). */
  private wakeSeq = -1;
  private wakeModeValue: KmsgWakeMode = 'poll';
  /** Why the reader polls although the device is a kernel log (undefined when notified, or a FIFO). */
  private notifierErrorValue: string | undefined;
  private pollMs = DEFAULT_POLL_INTERVAL_MS;
  private idlePollMs = DEFAULT_POLL_INTERVAL_MS;
  private readonly idleAfterMs: number;
  private lastRecordAt = performance.now();
  /** When the notifier was restarted lately (performance.now()). */
  private restartTimes: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopping = false;
  private draining = false;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;

  /** @internal use openKmsgReader() */
  constructor(opts: KmsgReaderOptions, bootId: string, fd: number) {
    this.bootId = bootId;
    this.path = opts.roots.kmsg;
    this.fd = fd;
    this.device = fstatSync(fd).isCharacterDevice();
    this.onEvents = opts.onEvents;
    this.idleAfterMs = opts.idleAfterMs ?? DEFAULT_IDLE_AFTER_MS;
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.setPollInterval(opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, opts.idlePollIntervalMs);
    this.positionValue = this.position0(opts.from ?? 'end');
    if (opts.notify !== false && this.device) this.openNotifier();
    // The first batch (what positioning read ahead, or the backlog from 'start') comes after the
    // caller has the reader in hand; a polling reader arms its timer after each drain.
    this.scheduleDrain();
  }

  /** Where reading started. */
  get position(): KmsgPosition {
    return this.positionValue;
  }

  /** How the reader is woken now ('poll' after a notifier failure: see notifierError). */
  get wakeMode(): KmsgWakeMode {
    return this.wakeModeValue;
  }

  /** Why a kernel log device is polled rather than notified, if it is. */
  get notifierError(): string | undefined {
    return this.notifierErrorValue;
  }

  /**
   * The resume point: this boot and the SEQ of the last record delivered (or skipped to reach the
   * start position). Undefined before the first record. Save it after onEvents returned.
   */
  cursor(): KmsgCursor | undefined {
    return this.lastSeq === undefined ? undefined : { bootId: this.bootId, seq: this.lastSeq };
  }

  /** A snapshot of the counters. */
  stats(): KmsgReaderStats {
    const c = this.tracker.counts();
    return {
      ...this.s,
      lost: c.lost,
      lostOverrun: c.lostOverrun,
      lostGap: c.lostGap,
      lostBeforeStart: c.lostBeforeStart,
      overruns: c.overruns,
    };
  }

  /**
   * Change how often a polling reader looks at the log, in ms (0.05–1000); `idleMs` once the log
   * has been quiet for idleAfterMs (default: `ms`, no back-off). Every look costs CPU
   * (bench/kmsg-reader-latency.ts). A notified reader keeps them for when it has to poll.
   */
  setPollInterval(ms: number, idleMs = ms): void {
    for (const v of [ms, idleMs]) {
      if (!Number.isFinite(v) || v < 0.05 || v > 1000) throw new RangeError(`poll interval ${v} ms: want 0.05–1000`);
    }
    this.pollMs = ms;
    this.idlePollMs = idleMs;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.armPoll();
    }
  }

  /** Stop reading and close the fds. Nothing is delivered after stop() was called. Idempotent. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.release();
      this.resolveDone();
    }
    await this.done.catch(() => undefined /* stop() reports success; the failure went to `done` */);
  }

  // ---- positioning -----------------------------------------------------------------------------

  /**
   * Skip records before the start position. 'end': everything readable now (until EAGAIN); a cursor
   * of this boot: every record with SEQ <= its seq, the first later one is kept. EPIPE while skipping
   * to the end is irrelevant (those records were to be skipped); while skipping to a cursor it is
   * kept, because the records after the cursor may be among the lost.
   */
  private position0(start: KmsgStart): KmsgPosition {
    if (start === 'start') return { from: 'start' };
    if (typeof start === 'object' && start.bootId !== this.bootId) return { from: 'start', staleCursor: start };
    const skip = start === 'end' ? 'end' : start.seq;
    let skipped = 0;
    let lastSkippedSeq: number | undefined;
    const prefix = newKmsgPrefix();
    for (;;) {
      const r = this.readOne();
      if (r === 'EAGAIN' || r === 'EOF') break;
      if (r === 'EPIPE' || r === 'EINVAL') {
        if (skip !== 'end') this.pending.push(r === 'EPIPE' ? ITEM_EPIPE : ITEM_EINVAL);
        continue;
      }
      const seq = seqOf(r, prefix);
      if (seq === undefined) {
        this.s.malformed += 1;
        continue;
      }
      if (skip === 'end' || seq <= skip) {
        skipped += 1;
        lastSkippedSeq = seq;
        continue;
      }
      this.pending.push(r);
      break;
    }
    this.s.skipped += skipped;
    if (skip === 'end') {
      if (lastSkippedSeq !== undefined) {
        this.lastSeq = lastSkippedSeq;
        this.tracker = new SeqTracker(lastSkippedSeq + 1);
      }
      return { from: 'end', skipped };
    }
    const cursor = start as KmsgCursor;
    this.lastSeq = cursor.seq;
    // The first record should be cursor.seq + 1; a hole before it was lost while we were away.
    // (A cursor ahead of every record in the log shows up as a rewind on the next record.)
    this.tracker = new SeqTracker(cursor.seq + 1, true);
    return { from: 'cursor', cursor, skipped };
  }

  // ---- reading ---------------------------------------------------------------------------------

  private readOne(): ReadResult {
    if (this.backlog.length > 0) return this.backlog.shift() as string;
    if (this.fd === undefined) return 'EOF';
    let n: number;
    try {
      n = readWithoutStack(this.fd, this.buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      switch (code) {
        case 'EAGAIN':
        case 'EPIPE':
        case 'EINVAL':
          return code;
        case 'EINTR':
          return this.readOne();
        default:
          throw new OomwatchError('EIO', `${this.path}: read failed: ${code ?? 'EIO'}: ${(err as Error).message}`, { cause: err });
      }
    }
    // /dev/kmsg never returns 0; a FIFO without a writer (tests) does: "nothing now".
    if (n === 0) return 'EOF';
    // The kernel escapes every byte < 0x20 (but \n), >= 0x7f and '\' as \xNN: records are ASCII.
    const text = this.buf.toString('latin1', 0, n);
    return this.device ? text : this.splitRecords(text);
  }

  /**
   * A read that is not the device's may hold several records. A record is its first line plus the
   * continuation lines that follow it, each starting with a space (` KEY=VALUE`, dev-kmsg ABI);
   * any other line starts the next record. Returns the first and keeps the rest for later reads.
   */
  private splitRecords(text: string): string {
    let start = 0;
    let at = text.indexOf('\n');
    while (at >= 0 && at + 1 < text.length) {
      if (text[at + 1] !== ' ') {
        this.backlog.push(text.slice(start, at + 1));
        start = at + 1;
      }
      at = text.indexOf('\n', at + 1);
    }
    this.backlog.push(text.slice(start));
    return this.backlog.shift() as string;
  }

  private scheduleDrain(): void {
    if (this.immediate === undefined && !this.stopping) this.immediate = setImmediate(() => this.drain());
  }

  /** Deliver everything readable now, in batches of at most BATCH_MAX (yielding between them). */
  private drain(): void {
    this.immediate = undefined;
    if (this.stopping) return;
    const items = this.pending;
    this.pending = [];
    let full = false;
    try {
      for (;;) {
        if (items.length >= BATCH_MAX) {
          full = true;
          break;
        }
        const r = this.readOne();
        if (r === 'EAGAIN' || r === 'EOF') {
          if (r === 'EAGAIN' && items.length === 0) this.s.emptyReads += 1;
          break;
        }
        items.push(r === 'EPIPE' ? ITEM_EPIPE : r === 'EINVAL' ? ITEM_EINVAL : r);
      }
    } catch (err) {
      this.fail(err as OomwatchError);
      return;
    }
    if (items.length > 0) {
      this.lastRecordAt = performance.now();
      this.draining = true;
      try {
        this.onBatch(items);
      } finally {
        this.draining = false;
        if (this.stopping) this.release();
      }
    }
    if (full) this.scheduleDrain();
    else if (this.wakeModeValue === 'poll') this.armPoll();
  }

  private armPoll(): void {
    if (this.stopping || this.timer !== undefined) return;
    const quiet = performance.now() - this.lastRecordAt >= this.idleAfterMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, quiet ? this.idlePollMs : this.pollMs);
  }

  private openNotifier(): void {
    this.wakeSeq = -1;
    try {
      this.notifier = openKmsgNotifier(this.path, {
        // At once, not in a setImmediate: a daemon sweeping 1,000 cgroups yields between 5 ms
        // slices with setImmediate, and a drain queued behind the next slice waited for it. The
        // notifier reads up to 32 records per loop turn, each one a wakeup.
        onWake: (seq) => {
          if (this.immediate !== undefined) return;
          // A record this reader has read already (the notifier follows it record by record, a
          // whole report behind; the device gives one record per read(), so the chunk's SEQ is
          // all it read): nothing new. SEQ only grows on the notifier's fd; one that does not (a
          // rewind) or is unknown drains all the same.
          const known = seq >= 0 && seq > this.wakeSeq && this.lastSeq !== undefined && seq <= this.lastSeq;
          this.wakeSeq = seq;
          if (!known) this.drain();
        },
        onError: (err) => {
          this.notifier = undefined;
          if (this.stopping) return;
          // EPIPE: it fell a whole buffer behind while the event loop was blocked. Reopen it, unless
          // it keeps failing (then poll, and say why).
          const now = performance.now();
          this.restartTimes = [...this.restartTimes.filter((at) => now - at < NOTIFIER_RESTART_WINDOW_MS), now];
          this.s.notifierRestarts += 1;
          if (this.restartTimes.length > NOTIFIER_MAX_RESTARTS) {
            this.notifierErrorValue = `the notifier failed ${this.restartTimes.length} times within ${NOTIFIER_RESTART_WINDOW_MS / 1000} s, last: ${err.message}`;
            this.wakeModeValue = 'poll';
          } else {
            this.openNotifier();
          }
          // Whatever was logged while it was down.
          this.scheduleDrain();
        },
      });
    } catch (err) {
      this.notifier = undefined;
      this.notifierErrorValue = `${this.path}: cannot open a second fd to be woken by: ${(err as Error).message}`;
    }
    if (this.notifier !== undefined) {
      this.wakeModeValue = 'notify';
      return;
    }
    this.notifierErrorValue ??= 'this Node cannot wait for the device in its event loop (no pipe_wrap binding)';
    this.wakeModeValue = 'poll';
  }

  private onBatch(items: readonly Item[]): void {
    const out: KmsgEvent[] = [];
    for (const item of items) {
      if (item === ITEM_EPIPE) {
        this.tracker.overrun();
        continue;
      }
      if (item === ITEM_EINVAL) {
        this.s.truncated += 1;
        continue;
      }
      let record: KmsgRecord;
      try {
        record = parseKmsgRecord(item, this.path);
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        this.s.malformed += 1;
        this.tracker.unknown();
        out.push({ type: 'malformed', raw: item, error: err });
        continue;
      }
      const ev = this.tracker.observe(record.seq);
      if (ev !== undefined) {
        if (ev.kind === 'lost') {
          out.push({ type: 'lost', reason: ev.reason, count: ev.count, fromSeq: ev.fromSeq, nextSeq: ev.nextSeq });
        } else {
          out.push({ type: 'rewind', expectedSeq: ev.expectedSeq, seq: ev.seq });
        }
      }
      this.s.records += 1;
      if (!isKernelRecord(record)) this.s.foreign += 1;
      this.lastSeq = record.seq;
      out.push({ type: 'record', record });
    }
    if (out.length > 0) this.onEvents(out);
  }

  private cancelTimers(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** Stop waking and close the fd (once no batch is being delivered: onEvents may call stop()). */
  private release(): void {
    this.cancelTimers();
    this.notifier?.close();
    this.notifier = undefined;
    if (this.draining || this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  private fail(err: OomwatchError): void {
    if (this.stopping) return;
    this.stopping = true;
    this.release();
    this.rejectDone(err);
  }
}

/** The SEQ of a raw record (also of one malformed after its SEQ), or undefined when it has none. */
function seqOf(text: string, prefix: KmsgPrefix): number | undefined {
  let end = text.indexOf('\n');
  if (end < 0) end = text.length;
  const seq = scanKmsgPrefix(text, 0, end, prefix).seq;
  return seq >= 0 ? seq : undefined;
}

/**
 * Open the kernel log at `roots.kmsg` and start reading from `opts.from` (default 'end').
 * Resolves once positioned: every record logged after that is delivered to `opts.onEvents`.
 * Throws {@link KmsgPermissionError} (code ENOTROOT) without root/CAP_SYSLOG, an OomwatchError
 * (EIO) when the device is missing, a ParseError when the boot id is unreadable.
 */
export async function openKmsgReader(opts: KmsgReaderOptions): Promise<KmsgReader> {
  const bootId = readBootId(opts.roots);
  const fd = openKmsg(opts.roots);
  try {
    return new KmsgReader(opts, bootId, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
