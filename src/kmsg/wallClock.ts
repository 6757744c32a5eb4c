/**
 * A kernel log record's time on the wall clock. A /dev/kmsg record's TS_USEC (and dmesg's
 * `[s.us]`) is printk's local_clock(): time since boot that, like CLOCK_MONOTONIC, does not
 * advance while the machine is suspended (x86 sched_clock continues on resume from where it
 * stopped; it ran ≈ 1.4 ms ahead of CLOCK_MONOTONIC where this was measured). The boot's
 * wall-clock offset is therefore CLOCK_REALTIME − CLOCK_MONOTONIC, read when the record is
 * handled, and a record's wall time is offset + TS_USEC (docs/time.md says what a suspend or a
 * clock step does to it).
 */

/** Epoch microseconds as RFC 3339 in UTC with six fraction digits: `2026-11-28T05:27:58.000937Z`. */
export function rfc3339Us(epochUs: number): string {
  const ms = Math.floor(epochUs / 1000);
  const iso = new Date(ms).toISOString(); // `...:58.000Z`
  const us = epochUs - ms * 1000;
  return `${iso.slice(0, -1)}${String(us).padStart(3, '0')}Z`;
}

/**
 * A kill's wall-clock time from its kernel timestamp (µs since boot) and the boot's wall-clock
 * offset (epoch µs at kernel time 0); null when either is unknown.
 */
export function killTime(kernelTimeUs: number | null, offsetUs: number | null): string | null {
  if (kernelTimeUs === null || kernelTimeUs < 0 || offsetUs === null) return null;
  return rfc3339Us(Math.round(offsetUs + kernelTimeUs));
}

/**
 * Read the boot's wall-clock offset now: CLOCK_REALTIME − CLOCK_MONOTONIC in µs (Date.now() and
 * process.hrtime read together; Date.now() has millisecond resolution). Read it again for each
 * batch of records, so that a clock step (NTP, settimeofday) and the time a suspend added to
 * CLOCK_REALTIME are followed from then on.
 */
export function readWallClockOffsetUs(): number {
  const mono = process.hrtime.bigint();
  const wallMs = Date.now();
  return wallMs * 1000 - Number(mono / 1000n);
}

/**
 * Parse an RFC 3339 time (`2026-11-28T05:20:38.322Z`, `...+01:00`) to epoch µs (sub-µs digits
 * dropped); undefined when `text` is not one.
 */
export function parseRfc3339Us(text: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?([Zz]|[+-]\d\d:?\d\d)$/.exec(text);
  if (m === null) return undefined;
  const zone = (m[4] as string).toUpperCase();
  const ms = Date.parse(`${m[1] as string}T${m[2] as string}${zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`);
  if (!Number.isFinite(ms)) return undefined;
  const frac = (m[3] ?? '').padEnd(6, '0').slice(0, 6);
  return ms * 1000 + Number(frac);
}
