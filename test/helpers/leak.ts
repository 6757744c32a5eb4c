/** A steady leak for the early-warning tests and bench: python3 allocating and touching MiB after MiB. */

/** `python3 -c LEAK_PY RATE`: allocates and touches RATE MiB per second (bytes filled with 'x') until killed. */
export const LEAK_PY = `
import sys, time
rate = float(sys.argv[1]); keep = []; t0 = time.monotonic(); n = 0
while True:
    keep.append(b'x' * (1 << 20)); n += 1
    d = t0 + n / rate - time.monotonic()
    if d > 0: time.sleep(d)
`;

/** The argv of a leak of `mibPerS` MiB per second. */
export function leakArgv(mibPerS: number): string[] {
  return ['/usr/bin/python3', '-c', LEAK_PY, String(mibPerS)];
}

/** The early warnings' log events (each also has a `_cleared` event). */
export const EARLY_WARNINGS: ReadonlySet<string> = new Set(['oom_predicted', 'limit_reclaim', 'memory_pressure']);
