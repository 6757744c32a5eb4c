import { Gauge, type Registry } from 'prom-client';
import type { MemoryBackend } from '../cgroup/backend.js';
import type { LimitsSpec } from '../cgroup/limits.js';
import type { CgroupStats } from '../cgroup/backend.js';
import type { Collector } from './collector.js';

/** The kernel rounds limits to whole pages: values closer than a page are the same limit. */
const PAGE = 4096;
const sameSize = (want: number | 'max', got: number | null) =>
  want === 'max' ? got === null : got !== null && Math.abs(got - want) < PAGE;

/** Which declared limits differ from what the kernel has now. Pure. */
export function driftOf(limits: LimitsSpec, s: CgroupStats): string[] {
  const d: string[] = [];
  if (limits.memory !== undefined && !sameSize(limits.memory, s.max)) d.push(`memory: declared ${limits.memory}, kernel has ${s.max ?? 'max'}`);
  if (limits.memoryHigh !== undefined && !sameSize(limits.memoryHigh, s.high)) d.push(`memory_high: declared ${limits.memoryHigh}, kernel has ${s.high ?? 'max'}`);
  if (limits.memoryLow !== undefined && !sameSize(limits.memoryLow, s.low)) d.push(`memory_low: declared ${limits.memoryLow}, kernel has ${s.low ?? 'max'}`);
  if (limits.swap !== undefined && !sameSize(limits.swap, s.swap_max)) d.push(`swap: declared ${limits.swap}, kernel has ${s.swap_max ?? 'max'}`);
  if (limits.oomGroup !== undefined && s.oom_group !== null && limits.oomGroup !== s.oom_group) d.push(`oom_group: declared ${limits.oomGroup}, kernel has ${s.oom_group}`);
  if (limits.oomKill !== undefined && s.oom_kill_disable !== null && limits.oomKill === s.oom_kill_disable) d.push(`oom_kill: declared ${limits.oomKill}, kernel has ${!s.oom_kill_disable}`);
  return d;
}

/** A cgroup the config declares, with the limits it gives (kernel path form, `/batch/worker-1`). */
export interface DeclaredCgroup {
  readonly path: string;
  readonly limits: LimitsSpec;
}

/** Declared cgroups: whether each exists with the limits the config gives. */
export class DeclaredCollector implements Collector {
  readonly name = 'declared';
  private readonly drift: Gauge<'cgroup'>;
  private readonly present: Gauge<'cgroup'>;
  private readonly reported = new Map<string, string>();

  constructor(
    registry: Registry,
    private readonly backend: MemoryBackend,
    private declared: readonly DeclaredCgroup[],
    private readonly onDrift: (cgroup: string, drift: string[]) => void,
  ) {
    const registers = [registry];
    this.drift = new Gauge({ name: 'oomwatch_declared_cgroup_drift', help: '1 when a declared cgroup\'s limits differ from the config (changed by someone else)', labelNames: ['cgroup'] as const, registers });
    this.present = new Gauge({ name: 'oomwatch_declared_cgroup_present', help: '1 when a declared cgroup exists', labelNames: ['cgroup'] as const, registers });
  }

  setDeclared(declared: readonly DeclaredCgroup[]): void {
    for (const d of this.declared) {
      if (!declared.some((n) => n.path === d.path)) {
        this.drift.remove({ cgroup: d.path });
        this.present.remove({ cgroup: d.path });
        this.reported.delete(d.path);
      }
    }
    this.declared = declared;
  }

  update(): void {
    for (const d of this.declared) {
      if (!this.backend.exists(d.path)) {
        this.present.set({ cgroup: d.path }, 0);
        this.drift.set({ cgroup: d.path }, 1);
        continue;
      }
      this.present.set({ cgroup: d.path }, 1);
      const drift = driftOf(d.limits, this.backend.stats(d.path));
      this.drift.set({ cgroup: d.path }, drift.length > 0 ? 1 : 0);
      const text = drift.join('; ');
      if (text !== (this.reported.get(d.path) ?? '')) {
        if (drift.length > 0) this.onDrift(d.path, drift);
        this.reported.set(d.path, text);
      }
    }
  }
}
