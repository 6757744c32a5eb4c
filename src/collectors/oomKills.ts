import { Counter, type Registry } from 'prom-client';
import type { OomKillEvent } from '../oom/event.js';
import { resolveOwner } from '../oom/owner.js';

export const KILL_LABELS = [
  'cgroup', 'scope', 'unit', 'runtime', 'container_id', 'pod_uid', 'namespace', 'pod', 'container', 'limit', 'main_process',
] as const;
export type KillLabel = (typeof KILL_LABELS)[number];

/** How long a gone cgroup's kill series are kept (and its container's identity with them). */
export const KILL_SERIES_RETENTION_MS = 15 * 60_000;

/**
 * What the daemon adds to a kill beyond the kernel's report: the container's names from its
 * runtime's files (null when unknown), which limit fired, whether the victim was the container's
 * init process.
 */
export interface KillNames {
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly container: string | null;
  readonly limit: string | null;
  readonly main_process: boolean | null;
}

export const NO_NAMES: KillNames = Object.freeze({ namespace: null, pod: null, container: null, limit: null, main_process: null });

/**
 * The OOM kill counters: one increment per process the kernel killed, labelled by the victim's
 * cgroup and its owner. No pid or process name in any label (they are in the log line).
 * A cgroup's kill series outlives the cgroup by `retentionMs`, so a pod that is OOM-killed and
 * removed at once is still seen by the next scrapes (cAdvisor loses it: google/cadvisor#3015).
 * The series of a cgroup that is not watched (excluded, or gone before discovery saw it) lasts
 * `retentionMs` after its last kill: nothing would ever say it is gone. The root's and the
 * unattributed series stay.
 */
export class OomKillMetrics {
  private readonly kills: Counter<KillLabel>;
  private readonly unattributed: Counter;
  private readonly unexplained: Counter<'cgroup'>;
  private readonly goneAt = new Map<string, number>();
  private readonly series = new Map<string, Set<string>>();

  constructor(
    registry: Registry,
    private readonly retentionMs = KILL_SERIES_RETENTION_MS,
  ) {
    const registers = [registry];
    this.kills = new Counter({
      name: 'oomwatch_oom_kills_total',
      help: "Processes killed by the kernel's OOM killer, by the victim's cgroup (empty when it could not be established), its owner and names, which limit fired and whether the victim was the container's init process",
      labelNames: KILL_LABELS,
      registers,
    });
    this.unattributed = new Counter({
      name: 'oomwatch_unattributed_oom_kills_total',
      help: 'OOM kills read from the kernel log whose cgroup neither the report nor any cgroup counter established',
      registers,
    });
    this.unexplained = new Counter({
      name: 'oomwatch_unexplained_oom_kills_total',
      help: "OOM kills the kernel's per-cgroup counters show that no kernel log record explained (lost records, no /dev/kmsg access)",
      labelNames: ['cgroup'] as const,
      registers,
    });
    this.unattributed.inc(0);
  }

  static labelsFor(cgroup: string | null, scope: string | null, names: KillNames = NO_NAMES): Record<KillLabel, string> {
    const owner = resolveOwner(cgroup);
    return {
      cgroup: cgroup ?? '',
      scope: scope ?? '',
      unit: owner.unit ?? '',
      runtime: owner.runtime ?? '',
      container_id: owner.container_id ?? '',
      pod_uid: owner.pod_uid ?? '',
      ...nameLabels(names),
    };
  }

  private track(labels: Record<KillLabel, string>): void {
    const id = JSON.stringify(labels);
    let set = this.series.get(labels.cgroup);
    if (set === undefined) this.series.set(labels.cgroup, (set = new Set()));
    set.add(id);
  }

  /** A declared cgroup's series exists from the start, at 0. */
  declare(cgroup: string): void {
    const labels = OomKillMetrics.labelsFor(cgroup, 'cgroup');
    this.kills.inc(labels, 0);
    this.track(labels);
  }

  /**
   * The event's own owner fields are the labels: the log line and the series always agree.
   * `watched`: whether the daemon watches the victim's cgroup (if not, its retention starts now).
   */
  kill(event: OomKillEvent, now: number, watched: boolean, names: KillNames = NO_NAMES): void {
    const labels: Record<KillLabel, string> = {
      cgroup: event.victim_cgroup ?? '',
      scope: event.scope ?? '',
      unit: event.unit ?? '',
      runtime: event.runtime ?? '',
      container_id: event.container_id ?? '',
      pod_uid: event.pod_uid ?? '',
      ...nameLabels(names),
    };
    this.kills.inc(labels);
    this.track(labels);
    if (event.victim_cgroup === null) this.unattributed.inc();
    else if (!watched && event.victim_cgroup !== '/') this.goneAt.set(event.victim_cgroup, now);
  }

  /** `names`: the cgroup's container, when known (no report: which limit fired and whose process died are not). */
  unexplainedKills(cgroup: string, count: number, names: KillNames = NO_NAMES): void {
    const labels = OomKillMetrics.labelsFor(cgroup, null, names);
    this.kills.inc(labels, count);
    this.track(labels);
    this.unexplained.inc({ cgroup }, count);
  }

  cgroupGone(cgroup: string, now: number): void {
    this.goneAt.set(cgroup, now);
  }

  cgroupBack(cgroup: string): void {
    this.goneAt.delete(cgroup);
  }

  /** Drop the kill series of cgroups gone for longer than the retention. */
  expire(now: number): void {
    for (const [cgroup, at] of this.goneAt) {
      if (now - at < this.retentionMs) continue;
      for (const id of this.series.get(cgroup) ?? []) this.kills.remove(JSON.parse(id) as Record<KillLabel, string>);
      this.series.delete(cgroup);
      this.unexplained.remove({ cgroup });
      this.goneAt.delete(cgroup);
    }
  }
}

/** Labels are strings: unknown is empty (`main_process=""`), as for the owner's labels. */
function nameLabels(n: KillNames): Record<'namespace' | 'pod' | 'container' | 'limit' | 'main_process', string> {
  return {
    namespace: n.namespace ?? '',
    pod: n.pod ?? '',
    container: n.container ?? '',
    limit: n.limit ?? '',
    main_process: n.main_process === null ? '' : String(n.main_process),
  };
}
