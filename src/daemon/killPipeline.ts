/**
 * The kill pipeline: kernel log reader → OOM report parser → kill ledger → reporters (the kill
 * counters, the `oom_kill` log line, the state journal). The cgroup poller feeds it each cgroup's
 * own kill counter; the ledger reconciles both witnesses (ledger.ts).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Roots } from '../roots.js';
import type { CgroupUsage, MemorySample } from '../cgroup/sampler.js';
import { readBootId } from '../kmsg/bootId.js';
import { openKmsgReader, type KmsgEvent, type KmsgReader, type KmsgReaderOptions, type KmsgWakeMode } from '../kmsg/reader.js';
import { killTime, readWallClockOffsetUs } from '../kmsg/wallClock.js';
import { feedKmsgEvents } from '../oom/kmsgFeed.js';
import { OomReportParser } from '../oom/report.js';
import type { OomKillEvent } from '../oom/event.js';
import { limitFired, type LimitFired } from '../oom/limit.js';
import { isMainProcess, type ContainerIdentity } from '../runtime/identity.js';
import { WARM_UP_ROUNDS, warmUpKillPath } from '../oom/warmup.js';
import type { KmsgStatus } from '../collectors/kmsg.js';
import { NO_NAMES, OomKillMetrics, type KillNames } from '../collectors/oomKills.js';
import { resolveOwner } from '../oom/owner.js';
import { KillLedger, cgroupKey, type LedgerOutput } from './ledger.js';
import { StateJournal, ensureStateDir, readState, stateFile, type DaemonState } from './state.js';
import type { KillRecorder } from './recentKills.js';

/**
 * Only if the kernel cannot wake the reader (wakeMode 'poll', logged at start): how often it looks
 * for new records, every 2 ms while records come, every KMSG_IDLE_POLL_MS once the log has been
 * quiet for a second. Each look costs a wakeup (≈ 60–110 µs of CPU in this VM): 2–3 % of a core
 * on an idle host, which the notified reader does not spend (bench/README.md).
 */
const KMSG_POLL_MS = 2;
const KMSG_IDLE_POLL_MS = 4;

/** What the pipeline uses of the kernel log reader. */
export type KillLogReader = Pick<KmsgReader, 'bootId' | 'position' | 'wakeMode' | 'notifierError' | 'done' | 'cursor' | 'stats' | 'stop'>;

/** What the pipeline asks of the cgroup poller, for a kill's log line and its series' retention. */
export interface CgroupLookup {
  watches(path: string): boolean;
  /** The cgroup's usage, limit and peak now; undefined when it is not watched or cannot be read. */
  usageNow(path: string): CgroupUsage | undefined;
}

export interface KillPipelineOptions {
  readonly roots: Roots;
  readonly stateDir: string;
  /** How long a kill line and a counter increment may wait for each other (see KillLedger). */
  readonly graceMs: number;
  readonly registry: Registry;
  readonly log: Logger;
  readonly cgroups: CgroupLookup;
  /** Milliseconds clock. */
  readonly now: () => number;
  /** Container identities by container id: a lookup, no I/O (identities.ts). None: names stay null. */
  readonly identities?: { get(containerId: string | null): ContainerIdentity | undefined };
  /**
   * Called after each kill is counted and logged (the evidence and the kill hook): it must not
   * block, the kill path runs on to the next record.
   */
  readonly onKill?: (event: OomKillEvent) => void;
  /** The record of the last kills (recentKills.ts), for `oomwatch kills`; none: not recorded. */
  readonly recentKills?: KillRecorder;
  /** Opens the kernel log reader; openKmsgReader unless a test gives another. */
  readonly openReader?: (opts: KmsgReaderOptions) => Promise<KillLogReader>;
}

/** A kill as the daemon names it (KillPipeline.named). */
interface NamedKill {
  readonly event: OomKillEvent;
  readonly identity: ContainerIdentity | undefined;
  readonly names: KillNames;
}

export interface KillPipelineHealth {
  kmsg: { up: boolean; error: string | null; position: unknown; wake: KmsgWakeMode | null; why_poll: string | null };
  state: { file: string; writable: boolean; error: string | null };
}

export class KillPipeline {
  readonly kills: OomKillMetrics;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly parser: OomReportParser;
  private ledger!: KillLedger;
  private restored: DaemonState | undefined;
  private reader: KillLogReader | null = null;
  private kmsgError: string | null = null;
  /** How the kernel log reader was last known to be woken (logged when it changes). */
  private kmsgWake: KmsgWakeMode | undefined;
  /**
   * Whether a v2 group kill's repeated kill line is explained by the kernel log (true while the
   * reader runs), or must be taken off the cgroup's counter (no kernel log: MemorySample.ownKilledProcesses).
   * Fixed for the run once follow() returns, so that a counter never changes meaning under the ledger.
   */
  private countsGroupKills = true;
  private stateWritable = true;
  private stateJournal: StateJournal | null = null;
  private stateError: string | null = null;
  private stateDirty = false;
  /** SEQ of the last kernel log record fully processed (the resume point). */
  private doneSeq: number | undefined;
  private stopped = false;
  /** The boot's wall-clock offset, read for each batch of records (src/kmsg/wallClock.ts). */
  private wallOffsetUs = readWallClockOffsetUs();

  constructor(private readonly opts: KillPipelineOptions) {
    this.log = opts.log;
    this.now = opts.now;
    this.kills = new OomKillMetrics(opts.registry);
    this.parser = new OomReportParser({
      onKill: (e) => this.onKill(e),
      onRepeatedKill: (e) => this.emit(this.ledger.onRepeatedKill(e, this.now())),
    });
  }

  // ---- state -------------------------------------------------------------------------------

  /** Read the saved state (same boot only) and set the ledger up from it. */
  restore(): void {
    this.restored = this.loadState();
    this.ledger = new KillLedger(this.opts.graceMs, this.restored?.ledger, this.now());
  }

  private loadState(): DaemonState | undefined {
    const stateDir = this.opts.stateDir;
    try {
      ensureStateDir(stateDir);
    } catch (err) {
      this.stateWritable = false;
      this.stateError = `cannot create state directory ${stateDir}: ${(err as Error).message}`;
      this.log.warn({ event: 'state_unavailable', err: this.stateError }, `${this.stateError}; kills will not survive a restart (use --state-dir)`);
      return undefined;
    }
    let state: DaemonState | undefined;
    try {
      state = readState(stateDir);
    } catch (err) {
      this.stateError = err instanceof Error ? err.message : String(err);
      this.log.error({ event: 'state_corrupt', err: this.stateError }, `${this.stateError}; starting from the end of the kernel log`);
      return undefined;
    }
    if (state === undefined) return undefined;
    const bootId = this.readBootIdSafe();
    if (bootId !== undefined && bootId !== state.cursor.bootId) {
      this.log.info({ event: 'state_other_boot', saved_boot_id: state.cursor.bootId, boot_id: bootId }, 'state is from another boot: reading this boot\'s kernel log from its start');
      return { cursor: state.cursor, ledger: { counters: {}, pending: [] } };
    }
    this.log.info({ event: 'state_restored', seq: state.cursor.seq, pending: state.ledger.pending.length }, `resuming after kernel log record ${state.cursor.seq}`);
    return state;
  }

  private readBootIdSafe(): string | undefined {
    try {
      return readBootId(this.opts.roots);
    } catch (err) {
      this.log.warn({ event: 'boot_id_unreadable', err: String(err) }, `cannot read the boot id: ${String(err)}`);
      return undefined;
    }
  }

  /**
   * Save the cursor (the last record whose processing is complete) and the ledger. Called before
   * kills are logged and counted (write-ahead): a daemon killed right after a kill's log line
   * never reports that kill again after its restart. (Killed between this save and the log
   * write, a few µs, it would not report it at all; log lines carry boot_id and seq to dedupe.)
   */
  private saveStateNow(): void {
    if (!this.stateWritable || this.reader === null || this.doneSeq === undefined) return;
    try {
      this.stateJournal ??= new StateJournal(this.opts.stateDir);
      this.stateJournal.save({ bootId: this.reader.bootId, seq: this.doneSeq }, this.ledger);
      this.stateDirty = false;
      this.stateError = null;
    } catch (err) {
      const msg = `cannot save ${stateFile(this.opts.stateDir)}: ${(err as Error).message}`;
      if (this.stateError !== msg) this.log.error({ event: 'state_save_error', err: msg }, msg);
      this.stateError = msg;
    }
  }

  // ---- kernel log ----------------------------------------------------------------------------

  /** Follow the kernel log from the restored cursor (or its end); `enabled` false: counters only. */
  async follow(enabled: boolean): Promise<void> {
    if (enabled) await this.startReader();
    else this.kmsgError = 'disabled in the config (kmsg: false)';
    this.countsGroupKills = this.reader !== null;
  }

  private async startReader(): Promise<void> {
    const roots = this.opts.roots;
    try {
      this.reader = await (this.opts.openReader ?? openKmsgReader)({
        roots,
        from: this.restored?.cursor ?? 'end',
        onEvents: (events) => this.onKmsgEvents(events),
        pollIntervalMs: KMSG_POLL_MS,
        idlePollIntervalMs: KMSG_IDLE_POLL_MS,
      });
      // No batch can have been delivered before this continuation: the first comes in a later macrotask.
      this.doneSeq ??= this.reader.cursor()?.seq;
      this.kmsgError = null;
      const wake = this.reader.wakeMode;
      this.kmsgWake = wake;
      this.log.info(
        { event: 'kmsg_started', path: roots.kmsg, position: this.reader.position, wake, ...(wake === 'poll' ? { why_poll: this.reader.notifierError ?? null } : {}) },
        `following ${roots.kmsg} (${wake === 'notify' ? 'woken by the kernel' : `polling: ${this.reader.notifierError ?? 'not a character device'}`})`,
      );
      // Starts the state journal afresh now rather than in the first kill's path (StateJournal).
      this.saveStateNow();
      this.warmUp();
      this.reader.done.catch((err: unknown) => {
        if (this.stopped) return;
        this.kmsgError = err instanceof Error ? err.message : String(err);
        this.log.error({ event: 'kmsg_failed', err: this.kmsgError }, `kernel log reader failed: ${this.kmsgError}; OOM kills are now counted from cgroup counters only`);
      });
    } catch (err) {
      this.reader = null;
      this.kmsgError = err instanceof Error ? err.message : String(err);
      this.log.error({ event: 'kmsg_unavailable', err: this.kmsgError }, `${this.kmsgError}; OOM kills are counted from cgroup counters only (no process names)`);
    }
  }

  /**
   * Run the parsing and accounting of a kill WARM_UP_ROUNDS times, on the made-up report of
   * oom/warmup.ts in each of its cgroup layouts in turn, through ledgers of its own, and name it:
   * the first real kill then runs optimized code. Nothing reaches the reporters.
   */
  private warmUp(): void {
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      for (const e of warmUpKillPath(round)) {
        for (const o of new KillLedger(this.opts.graceMs).onKill(e, 0)) if (o.kind === 'kill') this.named(o.event);
      }
    }
  }

  /**
   * What the daemon adds to a kill: its container's identity (a lookup), the pod UID from the
   * container's labels when the path has none (docker's cgroupfs driver: /docker/<id>), which limit
   * fired, whether the init process died.
   */
  private named(e: OomKillEvent): NamedKill {
    const identity = this.opts.identities?.get(e.container_id);
    const event = e.pod_uid === null && identity !== undefined && identity.pod_uid !== null ? { ...e, pod_uid: identity.pod_uid } : e;
    const names: KillNames = {
      namespace: identity?.namespace ?? null,
      pod: identity?.pod ?? null,
      container: identity?.container ?? null,
      limit: limitFired(event),
      main_process: isMainProcess(identity, event.pid),
    };
    return { event, identity, names };
  }

  private onKmsgEvents(events: readonly KmsgEvent[]): void {
    this.wallOffsetUs = readWallClockOffsetUs();
    feedKmsgEvents(this.parser, events, {
      // A kill line is held until the next record arrives; kills emitted while a record is pushed
      // belong to records up to doneSeq, which is what a save inside emit() records.
      done: (seq) => {
        this.doneSeq = seq;
      },
      lost: (e) => this.log.warn({ event: 'kmsg_lost', reason: e.reason, count: e.count, from_seq: e.fromSeq }, `${e.count} kernel log records lost (${e.reason}) before oomwatch read them`),
      malformed: (e) => this.log.warn({ event: 'kmsg_malformed', raw: e.raw.slice(0, 200), err: e.error.message }, 'malformed kernel log record skipped'),
      rewind: (e) => this.log.warn({ event: 'kmsg_rewind', expected_seq: e.expectedSeq, seq: e.seq }, 'kernel log SEQ went backwards'),
    });
    this.parser.idle();
    this.stateDirty = true;
  }

  private onKill(event: OomKillEvent): void {
    event.kill_time ??= killTime(event.kernel_time_us, this.wallOffsetUs);
    // A header-less kill line names only the pid. /proc/<pid>/cgroup cannot tell where it was:
    // an exiting task is moved to the root cgroup (cgroup_exit) long before its parent reaps it,
    // so a lookup would name "/" for most victims. The ledger attributes it from the counters.
    this.emit(this.ledger.onKill(event, this.now()));
  }

  /**
   * Report what the ledger exports: the kills to the record of the last kills, the state
   * (write-ahead), then the counters and the log line. The record comes before the state: a
   * daemon killed between the two finds the kill again and the record passes it over (it knows it
   * by boot id and SEQ); after the state, the kill would be missing from the record, as from the
   * log, when the daemon died between the two.
   */
  private emit(outputs: readonly LedgerOutput[]): void {
    if (outputs.length === 0) return;
    const named = outputs.map((o) => (o.kind === 'kill' ? this.named(o.event) : null));
    if (this.opts.recentKills !== undefined) this.record(this.opts.recentKills, named);
    this.saveStateNow();
    for (const [i, o] of outputs.entries()) {
      if (o.kind === 'kill') {
        const { event, identity, names } = named[i] as NamedKill;
        const cg = event.victim_cgroup;
        this.kills.kill(event, this.now(), cg !== null && this.opts.cgroups.watches(cgroupKey(cg)), names);
        const s = cg === null ? undefined : this.opts.cgroups.usageNow(cg);
        // CLOCK_MONOTONIC in µs as the line is written: comparable with kernel_time_us (the
        // kernel's clock, ≈ CLOCK_MONOTONIC), it gives the detection latency (bench/daemon.ts).
        const detectedMonoUs = Number(process.hrtime.bigint() / 1000n);
        this.log.warn(
          {
            event: 'oom_kill',
            ...event,
            namespace: names.namespace,
            pod: names.pod,
            container: names.container,
            image: identity?.image ?? null,
            container_name: identity?.container_name ?? null,
            main_process: names.main_process,
            limit: names.limit,
            attributed_by: o.attributedBy,
            cgroup_limit_bytes: limitBytes(event, names.limit, s),
            cgroup_usage_bytes: s?.current ?? null,
            cgroup_peak_bytes: s?.peak ?? null,
            boot_id: this.reader?.bootId ?? null,
            wall_time: new Date().toISOString(),
            detected_mono_us: detectedMonoUs,
          },
          `OOM kill: ${event.process} (pid ${event.pid}) in ${where(event, identity)}`,
        );
        this.opts.onKill?.(event);
      } else {
        const identity = this.opts.identities?.get(resolveOwner(o.cgroup).container_id);
        const names: KillNames = identity === undefined ? NO_NAMES : { ...NO_NAMES, namespace: identity.namespace, pod: identity.pod, container: identity.container };
        this.kills.unexplainedKills(o.cgroup, o.count, names);
        this.log.warn(
          {
            event: 'oom_kill_unexplained', cgroup: o.cgroup, count: o.count, namespace: names.namespace, pod: names.pod, container: names.container,
            boot_id: this.reader?.bootId ?? null, wall_time: new Date().toISOString(),
          },
          `the kernel counted ${o.count} OOM kill(s) in cgroup ${o.cgroup} that no kernel log record explained`,
        );
      }
    }
  }

  private record(recorder: KillRecorder, named: readonly (NamedKill | null)[]): void {
    const detectedAt = new Date().toISOString();
    const bootId = this.reader?.bootId ?? null;
    for (const n of named) {
      if (n === null) continue;
      const { event, identity, names } = n;
      recorder.record(bootId, {
        event,
        names: {
          namespace: names.namespace, pod: names.pod, container: names.container, image: identity?.image ?? null,
          container_name: identity?.container_name ?? null, limit: names.limit as LimitFired | null, main_process: names.main_process,
        },
        detected_at: detectedAt,
      });
    }
  }

  // ---- what the cgroup poller reports --------------------------------------------------------

  /** A watched cgroup appeared: at start (`initial`), or created while the daemon runs. */
  cgroupAdded(path: string, initial: boolean): void {
    if (!initial) this.ledger.born(path);
    this.kills.cgroupBack(path);
  }

  /** A sample of a watched cgroup: its own kill counter goes to the ledger. */
  sampled(path: string, s: MemorySample, now: number): void {
    if (s.ownOomKills === null) return;
    // With the kernel log, a v2 group kill's repeated kill line explains the kernel's extra count
    // (onRepeatedKill); without it, the sampler's count of processes killed is the one to use.
    const kills = this.countsGroupKills ? s.ownOomKills : (s.ownKilledProcesses ?? s.ownOomKills);
    this.emit(this.ledger.onCounter(path, kills, now));
  }

  cgroupGone(path: string): void {
    this.kills.cgroupGone(path, this.now());
    this.emit(this.ledger.forget(path));
  }

  /** After each poll: export what waited past the grace period, save what changed. */
  afterPoll(now: number): void {
    this.emit(this.ledger.tick(now));
    this.kills.expire(now);
    this.checkKmsgWake();
    if (this.stateDirty) this.saveStateNow();
  }

  /** Say so once when the reader stops being woken by the kernel and polls (its notifier kept failing). */
  private checkKmsgWake(): void {
    const wake = this.reader?.wakeMode;
    if (wake === undefined || wake === this.kmsgWake) return;
    this.kmsgWake = wake;
    const why = this.reader?.notifierError ?? null;
    this.log.warn({ event: 'kmsg_wake_changed', wake, why_poll: why }, `kernel log reader now ${wake === 'poll' ? `polls: ${why}` : 'woken by the kernel'}`);
  }

  // ---- status and shutdown -------------------------------------------------------------------

  kmsgStatus(): KmsgStatus {
    const s = this.reader?.stats();
    return {
      up: this.reader !== null && this.kmsgError === null,
      records: s?.records ?? 0,
      lost: s?.lost ?? 0,
      foreign: s?.foreign ?? 0,
      malformed: s?.malformed ?? 0,
    };
  }

  health(): KillPipelineHealth {
    return {
      kmsg: {
        up: this.reader !== null && this.kmsgError === null,
        error: this.kmsgError,
        position: this.reader?.position ?? null,
        wake: this.reader?.wakeMode ?? null,
        why_poll: this.reader?.wakeMode === 'poll' ? (this.reader.notifierError ?? null) : null,
      },
      state: { file: stateFile(this.opts.stateDir), writable: this.stateWritable, error: this.stateError },
    };
  }

  /** Stop reading, export the kill a last record held, save the cursor. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.reader?.stop();
    this.parser.idle();
    this.saveStateNow();
    this.stateJournal?.close();
  }
}

/**
 * The limit of the cgroup whose limit fired, in bytes: the report's `memory: ... limit` line, which
 * the kernel prints for the OOM cgroup. A report without it (rate-limited, or a header-less kill
 * line a counter attributed) falls back to the victim's cgroup's limit now, when that is the one
 * that fired or the report does not say; a system OOM has none.
 */
function limitBytes(event: OomKillEvent, limit: string | null, s: CgroupUsage | undefined): number | null {
  if (limit === 'none') return null;
  const printed = event.memory?.limit;
  if (printed !== undefined) return printed === 'max' ? null : printed;
  const oomIsVictim = event.oom_cgroup !== null && event.victim_cgroup !== null && cgroupKey(event.oom_cgroup) === cgroupKey(event.victim_cgroup);
  return limit === null || oomIsVictim ? (s?.max ?? null) : null;
}

/** The log message's place: `pod shop/web-0 container app`, a runtime's container name, or the cgroup. */
function where(event: OomKillEvent, identity: ContainerIdentity | undefined): string {
  const cg = `cgroup ${event.victim_cgroup ?? '(unknown)'}`;
  if (identity === undefined) return cg;
  if (identity.pod !== null) return `pod ${identity.namespace ?? '?'}/${identity.pod}${identity.container === null ? '' : ` container ${identity.container}`} (${cg})`;
  if (identity.container_name !== null) return `container ${identity.container_name} (${cg})`;
  return cg;
}
