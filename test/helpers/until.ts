/**
 * The one wait of the test suite: poll a probe until its value is accepted, and fail loudly on
 * timeout with what was awaited and the last value seen (a wait that returns on timeout would
 * let the assertions after it pass on a daemon that never read anything).
 */
import { inspect } from 'node:util';

export interface UntilOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between two probes (default 20 ms). */
  everyMs?: number;
}

/** What `until` throws when time ran out: names what was awaited and keeps the last value seen. */
export class UntilTimeoutError extends Error {
  override readonly name = 'UntilTimeoutError';
  constructor(readonly what: string, readonly last: unknown, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${inspect(last, { depth: 4, breakLength: Infinity })}`);
  }
}

/**
 * Resolve with the first value of `probe()` that `accept` takes (default: a truthy value); throw
 * an `UntilTimeoutError` (`timed out after … waiting for WHAT; last value: …`) when none came in time. A probe that throws
 * fails the wait at once: it is the test's way to say the thing awaited can no longer happen.
 */
export async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  accept: (value: T) => boolean = Boolean,
  { timeoutMs = 10_000, everyMs = 20 }: UntilOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() >= deadline) {
      throw new UntilTimeoutError(what, value, timeoutMs);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
