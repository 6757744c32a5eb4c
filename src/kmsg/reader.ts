/**
 * The /dev/kmsg reader (Documentation/ABI/testing/dev-kmsg): follows the kernel log from a chosen
 * start position and delivers its records, in order and in batches, with every lost record
 * accounted for.
 *
 * It never blocks the event loop and holds no libuv threadpool thread: a worker thread polls a
 * non-blocking fd (see readerWorker.ts for why, bench/kmsg-reader-latency.ts for the numbers).
 */
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { OomwatchError, ParseError, isErrno } from '../errors.js';
import type { Roots } from '../roots.js';
import { readBootId } from './bootId.js';
import type { KmsgCursor } from './cursor.js';
import { isKernelRecord, parseKmsgRecord, type KmsgRecord } from './record.js';
import { CTL_IDLE_POLL_US, CTL_PAUSE, CTL_POLL_US, CTL_RUN, CTL_STATE, CTL_STOP, CTL_WORDS, ITEM_EINVAL, ITEM_EPIPE, type WorkerInit, type WorkerItem, type WorkerMessage } from './readerProtocol.js';
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
   * How long the worker sleeps when the log has nothing new, in ms (default 2). It bounds the extra
   * latency and sets the idle CPU cost; see bench/kmsg-reader-latency.ts.
   */
  readonly pollIntervalMs?: number;
  /**
   * How long the worker sleeps instead once no record has come for `idleAfterMs` (default: the
   * same as pollIntervalMs, no back-off). A longer idle interval saves the wakeups of a quiet log
   * and costs latency only on the first record after the quiet spell.
   */
  readonly idlePollIntervalMs?: number;
  /** Default 1000. */
  readonly idleAfterMs?: number;
}

export const DEFAULT_POLL_INTERVAL_MS = 2;
export const DEFAULT_IDLE_AFTER_MS = 1000;
/** Bytes per read(): the kernel formats at most 8192 bytes per record (CONSOLE_EXT_LOG_MAX). */
export const READ_BUFFER_BYTES = 16384;
const BATCH_MAX = 1024;

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

/**
 * A running reader. Create it with {@link openKmsgReader}; end it with {@link KmsgReader.stop}.
 * `done` settles when the reader ends: resolved after stop(), rejected with an OomwatchError (code
 * EIO) when reading failed (await it, or the failure surfaces as an unhandled rejection).
 * While it runs, its worker keeps the process alive.
 */
export class KmsgReader {
  readonly bootId: string;
  readonly path: string;
  readonly done: Promise<void>;
  private positionValue: KmsgPosition | undefined;
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly fd: number;
  private readonly onEvents: (events: readonly KmsgEvent[]) => void;
  private readonly start: KmsgStart;
  private tracker: SeqTracker = new SeqTracker();
  private lastSeq: number | undefined;
  private readonly s = { records: 0, foreign: 0, malformed: 0, truncated: 0, skipped: 0 };
  private stopping = false;
  private exited = false;
  /** The first failure; `done` rejects with it once the worker has exited. */
  private failure: OomwatchError | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;
  private readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private pauseWaiters: (() => void)[] = [];

  /** @internal use openKmsgReader() */
  constructor(opts: KmsgReaderOptions, bootId: string, fd: number) {
    this.bootId = bootId;
    this.path = opts.roots.kmsg;
    this.fd = fd;
    this.onEvents = opts.onEvents;
    this.start = opts.from ?? 'end';
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS));
    this.setPollInterval(opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, opts.idlePollIntervalMs);
    const start = this.start;
    let skip: WorkerInit['skip'] = 'none';
    if (start === 'end') skip = 'end';
    else if (typeof start === 'object' && start.bootId === bootId) skip = start.seq;
    const init: WorkerInit = {
      fd,
      skip,
      bufferSize: READ_BUFFER_BYTES,
      batchMax: BATCH_MAX,
      idleAfterMs: opts.idleAfterMs ?? DEFAULT_IDLE_AFTER_MS,
      control: this.ctl.buffer as SharedArrayBuffer,
    };
    this.worker = new Worker(new URL('./readerWorker.js', import.meta.url), { workerData: init });
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(new OomwatchError('EIO', `${this.path}: reader thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', () => this.onExit());
  }

  /** Resolves once the reader is at its start position: records logged after this are delivered. */
  ready(): Promise<void> {
    if (this.positionValue !== undefined) return Promise.resolve();
    if (this.exited) return Promise.reject(this.failure ?? new OomwatchError('EIO', `${this.path}: reader stopped before it was ready`));
    return new Promise((resolve, reject) => {
      this.readyWaiters.push({ resolve, reject });
    });
  }

  /** Where reading started (known once ready() resolved). */
  get position(): KmsgPosition | undefined {
    return this.positionValue;
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
   * Stop reading without closing (records keep accumulating in the kernel's ring buffer, which may
   * overrun us). Resolves when the worker has stopped reading and everything it read was delivered.
   */
  pause(): Promise<void> {
    if (this.stopping || this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.pauseWaiters.push(resolve);
      Atomics.store(this.ctl, CTL_STATE, CTL_PAUSE);
      Atomics.notify(this.ctl, CTL_STATE);
    });
  }

  /**
   * Change how long the idle worker sleeps between looks at the log, in ms (0.05–1000), at once;
   * `idleMs` once the log has been quiet for idleAfterMs (default: `ms`, no back-off).
   * The daemon can poll faster while a cgroup is close to its limit (a kill is likely) and slower
   * otherwise: every wakeup costs CPU (bench/kmsg-reader-latency.ts).
   */
  setPollInterval(ms: number, idleMs = ms): void {
    for (const v of [ms, idleMs]) {
      if (!Number.isFinite(v) || v < 0.05 || v > 1000) throw new RangeError(`poll interval ${v} ms: want 0.05–1000`);
    }
    Atomics.store(this.ctl, CTL_POLL_US, Math.round(ms * 1000));
    Atomics.store(this.ctl, CTL_IDLE_POLL_US, Math.round(idleMs * 1000));
    Atomics.notify(this.ctl, CTL_STATE);
  }

  /** Continue after pause(). */
  resume(): void {
    if (this.stopping || this.exited) return;
    Atomics.store(this.ctl, CTL_STATE, CTL_RUN);
    Atomics.notify(this.ctl, CTL_STATE);
  }

  /**
   * Stop the worker and close the fd. Prompt: the worker is never blocked in read(), and its sleep
   * ends on the notify. Nothing is delivered after stop() was called. Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      Atomics.store(this.ctl, CTL_STATE, CTL_STOP);
      Atomics.notify(this.ctl, CTL_STATE);
      this.settleReady(new OomwatchError('EIO', `${this.path}: reader stopped before it was ready`));
      for (const w of this.pauseWaiters.splice(0)) w();
    }
    await this.done.catch(() => undefined /* stop() reports success; the failure went to `done` */);
  }

  private settleReady(err?: Error): void {
    for (const w of this.readyWaiters.splice(0)) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  }

  private onMessage(m: WorkerMessage): void {
    if (this.stopping) return;
    switch (m.t) {
      case 'positioned':
        this.onPositioned(m.skipped, m.lastSkippedSeq, m.malformed);
        break;
      case 'batch':
        this.onBatch(m.items);
        break;
      case 'paused':
        for (const w of this.pauseWaiters.splice(0)) w();
        break;
      case 'fatal':
        this.fail(new OomwatchError('EIO', `${this.path}: read failed: ${m.code}: ${m.message}`));
        break;
      default:
        m satisfies never;
    }
  }

  private onPositioned(skipped: number, lastSkippedSeq: number | null, malformed: number): void {
    this.s.skipped += skipped;
    this.s.malformed += malformed;
    const start = this.start;
    if (start === 'end') {
      this.positionValue = { from: 'end', skipped };
      if (lastSkippedSeq !== null) {
        this.lastSeq = lastSkippedSeq;
        this.tracker = new SeqTracker(lastSkippedSeq + 1);
      }
    } else if (start === 'start') {
      this.positionValue = { from: 'start' };
    } else if (start.bootId === this.bootId) {
      this.positionValue = { from: 'cursor', cursor: start, skipped };
      this.lastSeq = start.seq;
      // The first record should be cursor.seq + 1; a hole before it was lost while we were away.
      // (A cursor ahead of every record in the log shows up as a rewind on the next record.)
      this.tracker = new SeqTracker(start.seq + 1, true);
    } else {
      this.positionValue = { from: 'start', staleCursor: start };
    }
    this.settleReady();
  }

  private onBatch(items: readonly WorkerItem[]): void {
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

  private fail(err: OomwatchError): void {
    if (this.exited) {
      this.rejectDone(err);
      return;
    }
    this.settleReady(err);
    this.failure ??= err;
    if (!this.stopping) {
      this.stopping = true;
      Atomics.store(this.ctl, CTL_STATE, CTL_STOP);
      Atomics.notify(this.ctl, CTL_STATE);
      for (const w of this.pauseWaiters.splice(0)) w();
    }
  }

  private onExit(): void {
    this.exited = true;
    try {
      closeSync(this.fd);
    } catch (err) {
      this.failure ??= new OomwatchError('EIO', `${this.path}: close failed: ${(err as Error).message}`, { cause: err });
    }
    if (!this.stopping && this.failure === undefined) {
      this.failure = new OomwatchError('EIO', `${this.path}: reader thread exited unexpectedly`);
    }
    this.settleReady(this.failure ?? new OomwatchError('EIO', `${this.path}: reader stopped before it was ready`));
    if (this.failure !== undefined) this.rejectDone(this.failure);
    else this.resolveDone();
  }
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
  let reader: KmsgReader;
  try {
    reader = new KmsgReader(opts, bootId, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  try {
    await reader.ready();
  } catch (err) {
    await reader.stop();
    throw err;
  }
  return reader;
}
