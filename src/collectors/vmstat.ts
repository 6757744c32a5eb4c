import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { parseCount } from '../cgroup/files/flatKeyed.js';
import type { Collector } from './collector.js';
import { CounterMirror } from './mirror.js';

/** `oom_kill` of /proc/vmstat: every OOM kill on the host since boot (Documentation/admin-guide/mm). */
export function parseVmstatOomKill(text: string, source = '/proc/vmstat'): number | undefined {
  const m = /(?:^|\n)oom_kill (\d+)/.exec(text);
  return m === null ? undefined : parseCount(m[1] as string, source);
}

export class VmstatCollector implements Collector {
  readonly name = 'vmstat';
  private readonly mirror: CounterMirror<never>;
  constructor(
    private readonly procRoot: string,
    registry: Registry,
  ) {
    this.mirror = new CounterMirror(
      new Counter({
        name: 'oomwatch_host_oom_kills_total',
        help: "OOM kills on the whole host since boot, as the kernel counts them (/proc/vmstat oom_kill)",
        registers: [registry],
      }),
    );
  }

  update(): void {
    const file = join(this.procRoot, 'vmstat');
    const v = parseVmstatOomKill(readFileSync(file, 'latin1'), file);
    if (v !== undefined) this.mirror.set({}, v);
  }
}
