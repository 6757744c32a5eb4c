import { Gauge, type Registry } from 'prom-client';
import { MEMORY_EVENT_KEYS } from '../cgroup/files/memoryEvents.js';
import type { MemoryBackend } from '../cgroup/backend.js';
import { CgroupGoneError, FdBudget, NotMemoryCgroupError, type CgroupSampler, type CgroupUsage, type MemorySample } from '../cgroup/sampler.js';
import type { Collector } from './collector.js';
import { SeriesTable } from './seriesTable.js';

/** The values last exported for one cgroup (undefined: not exported yet). */
interface Exported {
  current?: number;
  max?: number | null;
  workingSet?: number;
  peak?: number;
  events: (number | undefined)[];
  some?: number;
  full?: number;
}

export interface CgroupMemoryHooks {
  onSample(path: string, sample: MemorySample, now: number): void;
  /** The cgroup vanished between discovery and this poll (or during it). */
  onGone(path: string): void;
  /** The cgroup has no memory files (v2: memory not enabled by its parent): no longer polled. */
  onNotMemory(path: string): void;
  /**
   * A read failed for another reason (unreadable file, malformed value): the cgroup is skipped
   * this round. Called once per streak of failures: again only after a sample succeeded.
   */
  onError(path: string, err: unknown): void;
}

/**
 * Per-cgroup memory metrics from each watched cgroup's files, read once per poll through kept-open
 * descriptors (see CgroupSampler): usage, limit (absent when unlimited), working set, peak, the
 * kernel's event counters and (v2) PSI stall time.
 */
export class CgroupMemoryCollector implements Collector {
  readonly name = 'cgroup_memory';
  private readonly samplers = new Map<string, CgroupSampler>();
  private readonly usage: SeriesTable<'cgroup'>;
  private readonly limit: SeriesTable<'cgroup'>;
  private readonly workingSet: SeriesTable<'cgroup'>;
  private readonly peak: SeriesTable<'cgroup'>;
  private readonly events: SeriesTable<'cgroup' | 'event'>;
  private readonly pressure: SeriesTable<'cgroup' | 'kind'>;
  private readonly watched: Gauge;
  /**
   * What each cgroup's series were last set to: most values do not change between polls, and
   * skipping them skips building their series keys too (bench/README.md).
   */
  private readonly exported = new Map<string, Exported>();
  /** Cgroups whose last read failed (not vanished): a failure is reported once per streak. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly backend: Pick<MemoryBackend, 'openSampler'>,
    registry: Registry,
    private readonly hooks: CgroupMemoryHooks,
    /** Descriptors the samplers may keep open (see FdBudget); default no limit. */
    private readonly fdBudget = new FdBudget(Infinity),
  ) {
    const registers = [registry];
    const g = (name: string, help: string) => new SeriesTable<'cgroup'>({ name, help, type: 'gauge', registers });
    this.usage = g('oomwatch_cgroup_memory_usage_bytes', 'Memory charged to the cgroup (v1 memory.usage_in_bytes, v2 memory.current)');
    this.limit = g('oomwatch_cgroup_memory_limit_bytes', 'Hard memory limit (v1 memory.limit_in_bytes, v2 memory.max); absent when unlimited');
    this.workingSet = g('oomwatch_cgroup_memory_working_set_bytes', 'Usage minus inactive file pages, floor 0 (what the kubelet evicts on)');
    this.peak = g('oomwatch_cgroup_memory_peak_bytes', 'Highest usage seen by the kernel (v1 memory.max_usage_in_bytes, v2 memory.peak)');
    this.events = new SeriesTable({
      name: 'oomwatch_cgroup_memory_events_total',
      help: 'Kernel memory events of the cgroup (v2 memory.events, hierarchical; v1: max = memory.failcnt, oom_kill from memory.oom_control)',
      type: 'counter',
      registers,
    });
    this.pressure = new SeriesTable({
      name: 'oomwatch_cgroup_memory_pressure_seconds_total',
      help: 'Time tasks of the cgroup stalled on memory (v2 memory.pressure total, kind = some|full)',
      type: 'counter',
      registers,
    });
    this.watched = new Gauge({ name: 'oomwatch_cgroups_watched', help: 'Memory cgroups being polled', registers });
  }

  has(path: string): boolean {
    return this.samplers.has(path);
  }

  paths(): IterableIterator<string> {
    return this.samplers.keys();
  }

  add(path: string): void {
    if (!this.samplers.has(path)) this.samplers.set(path, this.backend.openSampler(path, this.fdBudget));
    this.watched.set(this.samplers.size);
  }

  /** Stop watching a cgroup and drop its series. */
  remove(path: string): void {
    const s = this.samplers.get(path);
    if (s === undefined) return;
    s.close();
    this.samplers.delete(path);
    this.failing.delete(path);
    this.exported.delete(path);
    this.watched.set(this.samplers.size);
    for (const g of [this.usage, this.limit, this.workingSet, this.peak]) g.remove(path);
    for (const event of MEMORY_EVENT_KEYS) this.events.remove(`${path}\0${event}`);
    for (const kind of ['some', 'full']) this.pressure.remove(`${path}\0${kind}`);
  }

  /** Sample one cgroup now (the fast poll of the cgroups in danger); undefined when it cannot be read. */
  sampleNow(path: string): MemorySample | undefined {
    try {
      return this.samplers.get(path)?.sample();
    } catch {
      // The poll loop reports read failures.
      return undefined;
    }
  }

  /**
   * One cgroup's usage, limit and peak now, for a kill's log line: in the kill's path, so only the
   * three small files (≈ 35 µs less than a whole sample there, bench/README.md); undefined when it
   * cannot be read.
   */
  usageNow(path: string): CgroupUsage | undefined {
    try {
      return this.samplers.get(path)?.usage();
    } catch {
      // Only decorates a log line; the poll loop reports read failures.
      return undefined;
    }
  }

  update(now: number): void {
    for (const [path, sampler] of this.samplers) this.updateOne(path, sampler, now);
  }

  /**
   * update() in slices of about `sliceMs` that yield to the event loop in between (and end early
   * once `stopping()` is true): with 10,000
   * cgroups a sweep takes hundreds of ms, and a scrape waited for all of it (bench/README.md).
   * Cgroups added or removed meanwhile are visited or not as Map iteration has it; each one
   * visited is read whole.
   */
  async updateInSlices(now: number, stopping: () => boolean = () => false, sliceMs = 5): Promise<void> {
    let t0 = performance.now();
    let n = 0;
    for (const [path, sampler] of this.samplers) {
      this.updateOne(path, sampler, now);
      if (++n % 32 === 0 && performance.now() - t0 >= sliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (stopping()) return;
        t0 = performance.now();
      }
    }
  }

  private updateOne(path: string, sampler: CgroupSampler, now: number): void {
    let s: MemorySample;
    try {
      s = sampler.sample();
    } catch (err) {
      if (err instanceof CgroupGoneError) {
        this.remove(path);
        this.hooks.onGone(path);
      } else if (err instanceof NotMemoryCgroupError) {
        this.remove(path);
        this.hooks.onNotMemory(path);
      } else if (!this.failing.has(path)) {
        this.failing.add(path);
        this.hooks.onError(path, err);
      }
      return;
    }
    this.failing.delete(path);
    this.export(path, s);
    this.hooks.onSample(path, s, now);
  }

  /** Set the cgroup's series to the sample, skipping the values that did not change. */
  private export(path: string, s: MemorySample): void {
    let e = this.exported.get(path);
    if (e === undefined) this.exported.set(path, (e = { events: [] }));
    const cgroup = { cgroup: path };
    if (e.current !== s.current) this.usage.set(path, cgroup, (e.current = s.current));
    if (e.max !== s.max) {
      if (s.max === null) this.limit.remove(path);
      else this.limit.set(path, cgroup, s.max);
      e.max = s.max;
    }
    if (e.workingSet !== s.workingSet) this.workingSet.set(path, cgroup, (e.workingSet = s.workingSet));
    if (s.peak !== null && e.peak !== s.peak) this.peak.set(path, cgroup, (e.peak = s.peak));
    for (let i = 0; i < MEMORY_EVENT_KEYS.length; i++) {
      const event = MEMORY_EVENT_KEYS[i] as (typeof MEMORY_EVENT_KEYS)[number];
      const v = s.events[event];
      if (v !== null && e.events[i] !== v) this.events.set(`${path}\0${event}`, { cgroup: path, event }, (e.events[i] = v));
    }
    if (s.pressure !== null) {
      const some = s.pressure.some.total_us / 1e6;
      if (e.some !== some) this.pressure.set(`${path}\0some`, { cgroup: path, kind: 'some' }, (e.some = some));
      if (s.pressure.full !== null) {
        const full = s.pressure.full.total_us / 1e6;
        if (e.full !== full) this.pressure.set(`${path}\0full`, { cgroup: path, kind: 'full' }, (e.full = full));
      }
    }
  }

  close(): void {
    for (const s of this.samplers.values()) s.close();
    this.samplers.clear();
    this.exported.clear();
  }
}
