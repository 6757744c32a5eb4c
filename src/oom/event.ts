import type { OomCandidate } from './badness.js';
import type { MemoryStat, OomMemory } from './memcgMeminfo.js';
import type { MemInfo } from './memInfo.js';
import { resolveOwner, type ContainerRuntime, type PodQos } from './owner.js';
import type { KillLine, OomScope } from './messages.js';

/**
 * One process the kernel's OOM killer killed: the public contract that tests, logs, `parse --json`
 * and the daemon share. Exactly these keys, in this order; null where the kernel did not say.
 */
export interface OomKillEvent {
  pid: number;
  /** The comm as the kernel printed it, escapes decoded; null when a partial line lost it. */
  process: string | null;
  /** `cgroup` when a memory cgroup's limit was hit, `system` otherwise; null when the input does not tell. */
  scope: OomScope | null;
  /** `CONSTRAINT_MEMCG`, `CONSTRAINT_NONE`, ... from the summary line (≥ 4.19). */
  constraint: string | null;
  /** The memory cgroup whose limit was hit; null for system OOMs. */
  oom_cgroup: string | null;
  /** The killed task's memory cgroup, only when the kernel named it for this very pid. */
  victim_cgroup: string | null;
  uid: number | null;
  total_vm_kb: number | null;
  anon_rss_kb: number | null;
  file_rss_kb: number | null;
  shmem_rss_kb: number | null;
  pgtables_kb: number | null;
  oom_score_adj: number | null;
  /** True for every process killed because its cgroup has memory.oom.group set. */
  group_kill: boolean;
  /**
   * The input did not hold the kernel's whole kill line (cut short, cut in two, or only the
   * `Kill process` selection was there): the fields it could not read are null.
   */
  partial: boolean;
  /**
   * Only the `Kill process N (comm) score S or sacrifice child` line (kernels ≤ 5.0) was there, not
   * its `Killed process` line: the kernel may have killed a child of N instead (pid is N's).
   */
  possibly_child: boolean;
  /** The comm of the task that invoked the OOM killer (the report's header). */
  trigger_process: string | null;
  /** The kill line's /dev/kmsg sequence number, when the input has it. */
  seq: number | null;
  /** The kill line's kernel timestamp (µs since boot), when the input has it. */
  kernel_time_us: number | null;
  /**
   * When the kill happened on the wall clock (RFC 3339, UTC), from the input's own clock or the
   * kernel timestamp and the boot's wall-clock time; null when neither is known.
   */
  kill_time: string | null;
  unit: string | null;
  runtime: ContainerRuntime | null;
  container_id: string | null;
  pod_uid: string | null;
  pod_qos: PodQos | null;
  /** The OOM cgroup's usage, limit and failcnt at the OOM (and swap/memsw/kmem where printed), in bytes. */
  memory: OomMemory | null;
  /** The report's `Memory cgroup stats for` block: keys as printed, sizes in bytes. */
  memory_stat: MemoryStat | null;
  /** A system OOM's `Mem-Info:` summary and totals, in bytes. */
  mem_info: MemInfo | null;
  /** The tasks the kernel weighed, by its own badness, highest first: the first few; the victim marked. */
  candidates: OomCandidate[] | null;
  /** How many tasks the report's table listed. */
  candidates_total: number | null;
}

/** The event's keys in contract order (for table columns and tests). */
export const OOM_KILL_EVENT_KEYS = [
  'pid', 'process', 'scope', 'constraint', 'oom_cgroup', 'victim_cgroup', 'uid', 'total_vm_kb',
  'anon_rss_kb', 'file_rss_kb', 'shmem_rss_kb', 'pgtables_kb', 'oom_score_adj', 'group_kill',
  'partial', 'possibly_child', 'trigger_process', 'seq', 'kernel_time_us', 'kill_time', 'unit', 'runtime', 'container_id', 'pod_uid', 'pod_qos',
  'memory', 'memory_stat', 'mem_info', 'candidates', 'candidates_total',
] as const satisfies ReadonlyArray<keyof OomKillEvent>;

/** What the report around a kill line established; every field null when unknown. */
export interface KillContext {
  readonly scope: OomScope | null;
  readonly constraint: string | null;
  readonly oomCgroup: string | null;
  readonly victimCgroup: string | null;
  /** Where the owner is read from: the victim's cgroup, or for a group kill the group's cgroup. */
  readonly ownerCgroup: string | null;
  readonly uid: number | null;
  readonly groupKill: boolean;
  /** The kill is known from its `Kill process` selection line alone. */
  readonly possiblyChild?: boolean;
  readonly triggerProcess: string | null;
  readonly seq: number | null;
  readonly kernelTimeUs: number | null;
  /** What the report's blocks said (memory, stats, Mem-Info, the task table); null without them. */
  readonly story?: {
    readonly memory: OomMemory | null;
    readonly memoryStat: MemoryStat | null;
    readonly memInfo: MemInfo | null;
    readonly candidates: OomCandidate[] | null;
    readonly candidatesTotal: number | null;
  } | null;
}

/**
 * Build the event for one kill line and what its report said. The line's own prefix decides the
 * scope when it has one (≥ 5.1); a system OOM never has an `oom_cgroup`.
 */
export function buildOomKillEvent(kill: KillLine, ctx: KillContext): OomKillEvent {
  const scope = kill.scope ?? ctx.scope;
  const owner = resolveOwner(ctx.ownerCgroup ?? ctx.victimCgroup);
  return {
    pid: kill.pid,
    process: kill.comm,
    scope,
    constraint: ctx.constraint,
    oom_cgroup: scope === 'system' ? null : ctx.oomCgroup,
    victim_cgroup: ctx.victimCgroup,
    uid: kill.uid ?? ctx.uid,
    total_vm_kb: kill.totalVmKb,
    anon_rss_kb: kill.anonRssKb,
    file_rss_kb: kill.fileRssKb,
    shmem_rss_kb: kill.shmemRssKb,
    pgtables_kb: kill.pgtablesKb,
    oom_score_adj: kill.oomScoreAdj,
    group_kill: ctx.groupKill,
    partial: kill.partial,
    possibly_child: ctx.possiblyChild ?? false,
    trigger_process: ctx.triggerProcess,
    seq: ctx.seq,
    kernel_time_us: ctx.kernelTimeUs,
    kill_time: null,
    unit: owner.unit,
    runtime: owner.runtime,
    container_id: owner.container_id,
    pod_uid: owner.pod_uid,
    pod_qos: owner.pod_qos,
    memory: ctx.story?.memory ?? null,
    memory_stat: ctx.story?.memoryStat ?? null,
    mem_info: ctx.story?.memInfo ?? null,
    candidates: ctx.story?.candidates ?? null,
    candidates_total: ctx.story?.candidatesTotal ?? null,
  };
}
