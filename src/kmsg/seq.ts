/**
 * Lost-record accounting over the SEQ numbers of /dev/kmsg records. Pure: no I/O, no clock.
 *
 * The kernel numbers its log records consecutively (Documentation/ABI/testing/dev-kmsg: "a
 * sequence number ... increments by one for each record"); one read() of /dev/kmsg returns the
 * next record for that open file. So a reader that sees SEQ jump from n to n+k+1 has lost k records.
 * When the ring buffer overwrote records a reader had not read yet, the next read() fails with EPIPE
 * once and the reader continues at the oldest surviving record: the EPIPE says *that* records were
 * lost, the following gap says *how many*.
 */

/** Why records are missing. */
export type LossReason =
  /** The ring buffer overran this reader (EPIPE); the gap after it is the count. */
  | 'overrun'
  /** A SEQ gap with no EPIPE before it (a record too long for the read buffer: EINVAL, or a kernel oddity). */
  | 'gap'
  /** Records written after a saved cursor and gone from the buffer before this reader started. */
  | 'before-start';

export interface SeqLoss {
  readonly kind: 'lost';
  readonly reason: LossReason;
  /** How many records are missing. 0 for an overrun whose gap could not be seen. */
  readonly count: number;
  /** The first missing SEQ. */
  readonly fromSeq: number;
  /** The SEQ of the record that revealed the loss (the first one after the hole). */
  readonly nextSeq: number;
}

/** SEQ went backwards: the expectation was wrong (it is reset to follow the kernel). */
export interface SeqRewind {
  readonly kind: 'rewind';
  readonly expectedSeq: number;
  readonly seq: number;
}

export type SeqEvent = SeqLoss | SeqRewind;

export interface SeqCounts {
  /** Records lost in total (the sum of the three below). */
  lost: number;
  lostOverrun: number;
  lostGap: number;
  lostBeforeStart: number;
  /** EPIPE errors: how many times the ring buffer overran the reader. */
  overruns: number;
  /** Times SEQ went backwards. */
  rewinds: number;
}

/**
 * Follows the SEQ numbers of the records one open /dev/kmsg file returns, in order, and turns
 * every hole into a {@link SeqLoss}.
 */
export class SeqTracker {
  private expected: number | undefined;
  private overrunPending = false;
  private beforeStartPending: boolean;
  private readonly c: SeqCounts = { lost: 0, lostOverrun: 0, lostGap: 0, lostBeforeStart: 0, overruns: 0, rewinds: 0 };

  /**
   * @param expectNext the SEQ the first record should have, when known: `cursor.seq + 1` when
   *   resuming from a cursor, `lastSkipped + 1` after skipping to the end; undefined when reading
   *   from the start of the buffer (what came before is not ours to count).
   * @param fromCursor a gap before the first record means records were lost while no reader ran.
   */
  constructor(expectNext?: number, fromCursor = false) {
    this.expected = expectNext;
    this.beforeStartPending = fromCursor && expectNext !== undefined;
  }

  /** The read() failed with EPIPE: the next gap is an overrun. */
  overrun(): void {
    this.c.overruns += 1;
    this.overrunPending = true;
  }

  /**
   * One record was consumed whose SEQ is unknown (its prefix was malformed). One read() returns
   * one record, so it held the expected SEQ; counting it keeps it from showing up as lost.
   */
  unknown(): void {
    if (this.expected !== undefined) this.expected += 1;
    this.beforeStartPending = false;
  }

  /** A record with this SEQ was read. Returns the loss or rewind it reveals, if any. */
  observe(seq: number): SeqEvent | undefined {
    const expected = this.expected;
    const overrun = this.overrunPending;
    const beforeStart = this.beforeStartPending;
    this.expected = seq + 1;
    this.overrunPending = false;
    this.beforeStartPending = false;
    if (expected === undefined) {
      // No expectation yet (reading from the start): an EPIPE here lost records we cannot count.
      return overrun ? { kind: 'lost', reason: 'overrun', count: 0, fromSeq: seq, nextSeq: seq } : undefined;
    }
    if (seq === expected) {
      return overrun ? { kind: 'lost', reason: 'overrun', count: 0, fromSeq: seq, nextSeq: seq } : undefined;
    }
    if (seq < expected) {
      this.c.rewinds += 1;
      return { kind: 'rewind', expectedSeq: expected, seq };
    }
    const count = seq - expected;
    const reason: LossReason = overrun ? 'overrun' : beforeStart ? 'before-start' : 'gap';
    this.c.lost += count;
    switch (reason) {
      case 'overrun':
        this.c.lostOverrun += count;
        break;
      case 'before-start':
        this.c.lostBeforeStart += count;
        break;
      case 'gap':
        this.c.lostGap += count;
        break;
      default:
        reason satisfies never;
    }
    return { kind: 'lost', reason, count, fromSeq: expected, nextSeq: seq };
  }

  /** The SEQ the next record should have, if known. */
  get expectedSeq(): number | undefined {
    return this.expected;
  }

  /** A copy of the counters. */
  counts(): SeqCounts {
    return { ...this.c };
  }
}
