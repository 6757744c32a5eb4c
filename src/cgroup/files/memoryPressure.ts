import { ParseError } from '../../errors.js';

/** One PSI line: share of time stalled (percent, 10/60/300 s averages) and the total stall in µs. */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total_us: number;
}

export interface MemoryPressure {
  some: PressureLine;
  /** Absent on the system-wide file of old kernels; present on every cgroup's memory.pressure. */
  full: PressureLine | null;
}

/** Parse v2 memory.pressure (Documentation/accounting/psi.rst). Pure. */
export function parseMemoryPressure(text: string, source = 'memory.pressure'): MemoryPressure {
  let some: PressureLine | undefined;
  let full: PressureLine | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const m = /^(some|full) avg10=(\d+\.\d+) avg60=(\d+\.\d+) avg300=(\d+\.\d+) total=(\d+)$/.exec(line);
    if (m === null) {
      if (/^(some|full) /.test(line)) throw new ParseError(source, `malformed PSI line ${JSON.stringify(line)}`, { line: i + 1 });
      continue;
    }
    const v: PressureLine = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), total_us: Number(m[5]) };
    if (m[1] === 'some') some = v;
    else full = v;
  }
  if (some === undefined) throw new ParseError(source, 'no "some" line');
  return { some, full };
}
