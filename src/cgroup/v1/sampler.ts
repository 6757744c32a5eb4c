import { CgroupFileReader, type CgroupSampler, type CgroupUsage, type FdBudget, type MemorySample } from '../sampler.js';
import { parseMemoryOomControl } from '../files/memoryOomControl.js';
import { parseMemoryValue } from '../files/memoryValue.js';
import { memoryStatValue } from '../files/memoryStat.js';

/**
 * A v1 memory cgroup at each poll (Documentation/admin-guide/cgroup-v1/memory.rst): six files
 * kept open. v1 has no memory.events: max is memory.failcnt, oom_kill comes from
 * memory.oom_control (this very cgroup's kills) and the other events are null.
 */
export class V1CgroupSampler implements CgroupSampler {
  private readonly f: CgroupFileReader;

  constructor(
    readonly path: string,
    dir: string,
    budget?: FdBudget,
  ) {
    this.f = new CgroupFileReader(path, dir, budget);
  }

  private value(file: string): number | null {
    return parseMemoryValue(this.f.must(file), this.f.src(file));
  }

  usage(): CgroupUsage {
    return {
      current: this.value('memory.usage_in_bytes') ?? 0,
      max: this.value('memory.limit_in_bytes'),
      peak: this.value('memory.max_usage_in_bytes'),
    };
  }

  sample(): MemorySample {
    const { current, max, peak } = this.usage();
    const oom = parseMemoryOomControl(this.f.must('memory.oom_control'), this.f.src('memory.oom_control'));
    const stat = this.f.memoryStat(current);
    const inactive = stat === null ? 0 : (memoryStatValue(stat, 'total_inactive_file') ?? 0);
    return {
      current,
      max,
      peak,
      workingSet: Math.max(0, current - inactive),
      events: { low: null, high: null, max: this.value('memory.failcnt'), oom: null, oom_kill: oom.oom_kill, oom_group_kill: null },
      ownOomKills: oom.oom_kill,
      ownKilledProcesses: oom.oom_kill,
      pressure: null,
      stat,
    };
  }

  close(): void {
    this.f.close();
  }
}
