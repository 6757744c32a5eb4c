/**
 * The messages between the kmsg reader (main thread, reader.ts) and its worker (readerWorker.ts).
 * Internal to src/kmsg.
 */

/** Shared control words (Int32 slots of WorkerInit.control). */
export const CTL_STATE = 0;
/** The poll interval in µs, changeable while running. */
export const CTL_POLL_US = 1;
/** The poll interval in µs once the log has been quiet for WorkerInit.idleAfterMs. */
export const CTL_IDLE_POLL_US = 2;
export const CTL_WORDS = 3;
/** Values of the CTL_STATE word. */
export const CTL_RUN = 0;
export const CTL_PAUSE = 1;
export const CTL_STOP = 2;

/** Markers in a batch, in read order among the record texts. */
export const ITEM_EPIPE = 0;
export const ITEM_EINVAL = 1;
/** A raw record text, or a marker: read() failed with EPIPE (overrun) or EINVAL (record too long). */
export type WorkerItem = string | typeof ITEM_EPIPE | typeof ITEM_EINVAL;

export interface WorkerInit {
  /** An fd opened O_RDONLY|O_NONBLOCK by the main thread, which also closes it. */
  readonly fd: number;
  /** Skip nothing, everything readable now ('end'), or every record with SEQ <= this. */
  readonly skip: 'none' | 'end' | number;
  readonly bufferSize: number;
  /** Post a batch once it holds this many items, even if more are readable. */
  readonly batchMax: number;
  /** After this long without a record, sleep CTL_IDLE_POLL_US instead of CTL_POLL_US. */
  readonly idleAfterMs: number;
  readonly control: SharedArrayBuffer;
}

export type WorkerMessage =
  | { readonly t: 'positioned'; readonly skipped: number; readonly lastSkippedSeq: number | null; readonly malformed: number }
  | { readonly t: 'batch'; readonly items: WorkerItem[] }
  | { readonly t: 'paused' }
  | { readonly t: 'fatal'; readonly code: string; readonly message: string };
