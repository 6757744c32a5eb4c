/**
 * The kill ledger: makes every OOM kill count exactly once, from two witnesses that each miss some.
 *
 * - The kernel log (/dev/kmsg) names each killed process, but under a storm the report header and
 *   summary are rate-limited (10 per 5 s) so most kill lines carry no cgroup; records can be lost
 *   (ring buffer overrun) or unreadable (no CAP_SYSLOG).
 *   (/proc/<pid>/cgroup is no help: an exiting task is moved to the root cgroup before it is reaped.)
 * - The kernel's per-cgroup counters (v1 memory.oom_control `oom_kill`, v2 memory.events.local
 *   `oom_kill`) count every kill of a task in that very cgroup, but say nothing about whom.
 *
 * A kill line with a cgroup is exported at once and leaves a *credit* on its cgroup, or consumes a
 * *deficit* there; a counter increment consumes a credit, or else a waiting header-less kill (which
 * is then exported with that cgroup), or else becomes a deficit, which a header-less kill read
 * later consumes. A deficit still unexplained after `graceMs` is
 * exported as an unexplained kill of that cgroup; a header-less kill no counter claimed within
 * `graceMs` is exported without a cgroup (unattributed). Credits that no counter ever matched
 * (a cgroup that is not watched) expire silently: their kills were already exported.
 *
 * Pure: time is passed in, outputs are returned. Nothing here touches the file system.
 */
import type { OomKillEvent } from '../oom/event.js';
import { resolveOwner } from '../oom/owner.js';

/** A kill whose cgroup a counter established: the cgroup and the owner it implies, as a report would give. */
function attribute(event: OomKillEvent, cgroup: string): OomKillEvent {
  return { ...event, victim_cgroup: cgroup, ...resolveOwner(cgroup) };
}

/** How a kill's cgroup is known: its report named it, a cgroup's kill counter claimed it, or nothing did. */
export type Attribution = 'kmsg' | 'counter' | 'none';

export type LedgerOutput =
  /** A kill to export; `attributedBy` says how its cgroup is known ('kmsg', 'counter', or 'none'). */
  | { readonly kind: 'kill'; readonly event: OomKillEvent; readonly attributedBy: Attribution }
  /** `count` kills the kernel counted in `cgroup` that no kernel log record explained. */
  | { readonly kind: 'unexplained'; readonly cgroup: string; readonly count: number };

interface CgroupAccount {
  /** The last counter value seen; null until the first sample. */
  counter: number | null;
  /** Times (ms) of kmsg kills exported for this cgroup that no counter increment matched yet. */
  credits: number[];
  /** Times (ms) of counter increments no kill line explained yet. */
  deficits: number[];
}

export interface LedgerSnapshot {
  /**
   * Per cgroup, the counter value every exported kill accounts for: the last value seen, less the
   * deficits not yet exported, plus the kills exported ahead of their counter increment. Saved with
   * the kmsg cursor, it is the baseline after a restart.
   */
  readonly counters: Readonly<Record<string, number>>;
  /** Header-less kills read but not yet exported: restored after a restart. */
  readonly pending: readonly OomKillEvent[];
}

/** What changed in the snapshot since the last {@link KillLedger.takeChanges}: small next to it. */
export interface LedgerChanges {
  /** The new value of each counter that changed; null for a cgroup no longer in the snapshot. */
  readonly counters: Readonly<Record<string, number | null>>;
  /** The whole list (it is short, and kept short by the grace period). */
  readonly pending: readonly OomKillEvent[];
}

/** The path form the counters use for a kernel-printed cgroup path. */
export const cgroupKey = (cgroup: string): string => (cgroup.length > 1 && cgroup.endsWith('/') ? cgroup.slice(0, -1) : cgroup);
const key = cgroupKey;

export class KillLedger {
  private readonly accounts = new Map<string, CgroupAccount>();
  /**
   * Header-less kills waiting for a counter to claim them; `repeat` entries are repeated kill lines
   * of an unknown cgroup: a claim consumes the increment the kernel counted for them, nothing is
   * exported.
   */
  private pool: { event: OomKillEvent; at: number; repeat?: true }[] = [];
  private readonly baselines: Map<string, number>;
  /** Cgroups whose snapshot value may have changed since the last takeChanges(). */
  private readonly changed = new Set<string>();

  constructor(
    private readonly graceMs: number,
    restored?: LedgerSnapshot,
    now = 0,
  ) {
    this.baselines = new Map(Object.entries(restored?.counters ?? {}));
    for (const event of restored?.pending ?? []) this.pool.push({ event, at: now });
  }

  private account(cgroup: string): CgroupAccount {
    let a = this.accounts.get(cgroup);
    if (a === undefined) {
      a = { counter: null, credits: [], deficits: [] };
      this.accounts.set(cgroup, a);
    }
    return a;
  }

  /** A kill line named this cgroup: it explains a counter increment, past (deficit) or to come (credit). */
  private explained(cgroup: string, now: number): void {
    const a = this.account(cgroup);
    if (a.deficits.length > 0) a.deficits.shift();
    else a.credits.push(now);
    this.changed.add(cgroup);
  }

  /** A kill the OOM report parser emitted. */
  onKill(event: OomKillEvent, now: number): LedgerOutput[] {
    if (event.victim_cgroup === null) {
      // A counter that already rose with no kill line to explain it claims this one: the oldest first.
      let oldest: [string, CgroupAccount] | undefined;
      for (const entry of this.accounts) {
        const d = entry[1].deficits[0];
        if (d !== undefined && (oldest === undefined || d < (oldest[1].deficits[0] as number))) oldest = entry;
      }
      if (oldest === undefined) {
        this.pool.push({ event, at: now });
        return [];
      }
      oldest[1].deficits.shift();
      this.changed.add(oldest[0]);
      return [{ kind: 'kill', event: attribute(event, oldest[0]), attributedBy: 'counter' }];
    }
    this.explained(key(event.victim_cgroup), now);
    return [{ kind: 'kill', event, attributedBy: 'kmsg' }];
  }

  /**
   * The kernel printed and counted a kill line again for a process already exported (a group kill's
   * first victim: the parser's onRepeatedKill). Nothing to export, but the counter increment it
   * caused in the victim's cgroup is explained: without this, a group kill of N processes would
   * count N + 1 (4 processes group-killed print 5 kill lines, and memory.events oom_kill reads 5).
   */
  onRepeatedKill(event: OomKillEvent, now: number): LedgerOutput[] {
    if (event.victim_cgroup === null) {
      this.pool.push({ event, at: now, repeat: true });
      return [];
    }
    this.explained(key(event.victim_cgroup), now);
    return [];
  }

  /**
   * A cgroup created while the daemon runs: its counter started at 0 under our eyes, so every
   * kill it shows is one to account for, even one that happened before its first sample.
   */
  born(cgroup: string): void {
    const a = this.account(cgroup);
    if (a.counter === null) {
      a.counter = 0;
      this.baselines.delete(cgroup);
      this.changed.add(cgroup);
    }
  }

  /**
   * A sample of a cgroup's own kill counter (v1 memory.oom_control oom_kill, v2 memory.events.local
   * oom_kill). The first sample sets the baseline: the saved one after a restart, else the value.
   */
  onCounter(cgroup: string, value: number, now: number): LedgerOutput[] {
    const a = this.account(cgroup);
    // Called for every cgroup at every poll: only a first sample or a new value changes anything.
    if (a.counter !== value) this.changed.add(cgroup);
    if (a.counter === null) {
      const saved = this.baselines.get(cgroup);
      this.baselines.delete(cgroup);
      a.counter = saved !== undefined && saved <= value ? saved : value;
      // The kernel counts a kill before it prints its report: credits older than the first sample
      // are already inside the baseline.
      if (saved === undefined || saved > value) a.credits.length = 0;
    }
    if (value < a.counter) {
      // A counter never goes down: this is a new cgroup under an old name. Start over.
      a.counter = value;
      return [];
    }
    let increments = value - a.counter;
    a.counter = value;
    const out: LedgerOutput[] = [];
    while (increments > 0 && a.credits.length > 0) {
      a.credits.shift();
      increments--;
    }
    while (increments > 0 && this.pool.length > 0) {
      const { event, repeat } = this.pool.shift() as (typeof this.pool)[number];
      if (repeat === undefined) out.push({ kind: 'kill', event: attribute(event, cgroup), attributedBy: 'counter' });
      increments--;
    }
    for (; increments > 0; increments--) a.deficits.push(now);
    return out;
  }

  /** Export what waited longer than the grace period. Call it after each poll. */
  tick(now: number): LedgerOutput[] {
    const out: LedgerOutput[] = [];
    for (const [cgroup, a] of this.accounts) {
      let n = 0;
      while (a.deficits.length > 0 && now - (a.deficits[0] as number) >= this.graceMs) {
        a.deficits.shift();
        n++;
      }
      if (n > 0) out.push({ kind: 'unexplained', cgroup, count: n });
      while (a.credits.length > 0 && now - (a.credits[0] as number) >= this.graceMs) {
        a.credits.shift();
        n++;
      }
      if (n > 0) this.changed.add(cgroup);
      // An unwatched cgroup's account only held credits: drop it once they expired (its value
      // was never in the snapshot: counter null).
      if (a.counter === null && a.credits.length === 0 && a.deficits.length === 0) this.accounts.delete(cgroup);
    }
    while (this.pool.length > 0 && now - (this.pool[0]?.at as number) >= this.graceMs) {
      const { event, repeat } = this.pool.shift() as (typeof this.pool)[number];
      if (repeat === undefined) out.push({ kind: 'kill', event, attributedBy: 'none' });
    }
    return out;
  }

  /** A watched cgroup is gone: its pending deficits are exported now, its account dropped. */
  forget(cgroup: string): LedgerOutput[] {
    const a = this.accounts.get(cgroup);
    this.accounts.delete(cgroup);
    this.changed.add(cgroup);
    return a !== undefined && a.deficits.length > 0 ? [{ kind: 'unexplained', cgroup, count: a.deficits.length }] : [];
  }

  /** A cgroup's value in the snapshot, if it is in it. */
  private value(cgroup: string): number | undefined {
    const a = this.accounts.get(cgroup);
    if (a !== undefined && a.counter !== null) return a.counter - a.deficits.length + a.credits.length;
    return this.baselines.get(cgroup);
  }

  /**
   * What changed in snapshot() since the last call (all of it relative to the snapshot taken
   * right after the previous call): the state journal saves this instead of the whole ledger.
   */
  takeChanges(): LedgerChanges {
    const counters: Record<string, number | null> = {};
    for (const cgroup of this.changed) counters[cgroup] = this.value(cgroup) ?? null;
    this.changed.clear();
    return { counters, pending: this.pendingEvents() };
  }

  private pendingEvents(): OomKillEvent[] {
    // A repeated line is not a kill to restore: after a restart its increment is in the baseline
    // or, at worst, one unexplained kill.
    return this.pool.flatMap((p) => (p.repeat === undefined ? [p.event] : []));
  }

  snapshot(): LedgerSnapshot {
    // Baselines restored for cgroups not sampled yet in this run (the first sweep has not reached
    // them, or discovery has not) are kept as they were: dropping them would lose the kills
    // those cgroups had while the daemon was down.
    const counters: Record<string, number> = Object.fromEntries(this.baselines);
    for (const [cgroup, a] of this.accounts) {
      if (a.counter !== null) counters[cgroup] = a.counter - a.deficits.length + a.credits.length;
    }
    return { counters, pending: this.pendingEvents() };
  }
}
