import { CgroupFileReader, type CgroupSampler, type CgroupUsage, type FdBudget, type MemorySample } from '../sampler.js';
import { parseMemoryEvents } from '../files/memoryEvents.js';
import { parseMemoryPressure } from '../files/memoryPressure.js';
import { parseMemoryValue } from '../files/memoryValue.js';
import { memoryStatValue } from '../files/memoryStat.js';

/**
 * A v2 memory cgroup at each poll (Documentation/admin-guide/cgroup-v2.rst, "Memory"):
 * memory.current, memory.max, memory.events, memory.stat when not empty, and where the kernel has
 * them memory.peak, memory.events.local and memory.pressure.
 */
export class V2CgroupSampler implements CgroupSampler {
  private readonly f: CgroupFileReader;

  constructor(
    readonly path: string,
    dir: string,
    budget?: FdBudget,
  ) {
    this.f = new CgroupFileReader(path, dir, budget);
  }

  usage(): CgroupUsage {
    const f = this.f;
    // memory.current first: without it the cgroup is not a memory cgroup (NotMemoryCgroupError),
    // before an optional file is tried and remembered as missing.
    const current = parseMemoryValue(f.must('memory.current'), f.src('memory.current')) ?? 0;
    const peak = f.read('memory.peak');
    return {
      current,
      max: parseMemoryValue(f.must('memory.max'), f.src('memory.max')),
      peak: peak === undefined ? null : parseMemoryValue(peak, f.src('memory.peak')),
    };
  }

  sample(): MemorySample {
    const f = this.f;
    const { current, max, peak } = this.usage();
    const stat = f.memoryStat(current);
    const inactive = stat === null ? 0 : (memoryStatValue(stat, 'inactive_file') ?? 0);
    const local = f.read('memory.events.local');
    const pressure = f.read('memory.pressure');
    const own = local === undefined ? undefined : parseMemoryEvents(local, f.src('memory.events.local'));
    const ownOomKills = own?.oom_kill ?? null;
    return {
      current,
      max,
      peak,
      workingSet: Math.max(0, current - inactive),
      events: parseMemoryEvents(f.must('memory.events'), f.src('memory.events')),
      ownOomKills,
      // A group kill (memory.oom.group) counts its first victim twice in oom_kill: 4 processes
      // killed print 5 kill lines and read oom_kill 5, oom_group_kill 1. Each group kill of this very
      // cgroup (memory.events.local oom_group_kill, 5.17+) takes one off. Exact when the processes
      // are in the cgroup that has memory.oom.group (a container's). A cgroup with memory-enabled
      // children has no processes of its own (the no-internal-process rule): its own oom_kill
      // stays 0 and nothing is taken off, and the first victim's extra count in the child stays.
      ownKilledProcesses: ownOomKills === null ? null : ownOomKills - Math.min(own?.oom_group_kill ?? 0, ownOomKills),
      pressure: pressure === undefined ? null : parseMemoryPressure(pressure, f.src('memory.pressure')),
      stat,
    };
  }

  close(): void {
    this.f.close();
  }
}
