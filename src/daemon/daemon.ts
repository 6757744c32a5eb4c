/**
 * `oomwatch daemon`: the wiring. Kernel files → parsers → typed values → collectors/events →
 * metrics and logs. Owns the declared cgroups, discovers and polls every memory cgroup, follows
 * /dev/kmsg, reconciles both through the kill ledger, and serves /metrics and /healthz.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Roots } from '../roots.js';
import type { MemoryBackend } from '../cgroup/backend.js';
import { createWithLimits } from '../cgroup/create.js';
import { detectLayout, type CgroupLayout } from '../cgroup/mode.js';
import { backendFor } from '../cgroup/open.js';
import { readBootId } from '../kmsg/bootId.js';
import { openKmsgReader, type KmsgEvent, type KmsgReader, type KmsgWakeMode } from '../kmsg/reader.js';
import { feedKmsgEvents } from '../oom/kmsgFeed.js';
import { OomReportParser } from '../oom/report.js';
import type { OomKillEvent } from '../oom/event.js';
import type { Collector } from '../collectors/collector.js';
import { CgroupMemoryCollector } from '../collectors/cgroupMemory.js';
import { DeclaredCollector } from '../collectors/declared.js';
import { KmsgCollector, type KmsgStatus } from '../collectors/kmsg.js';
import { OomKillMetrics } from '../collectors/oomKills.js';
import { VmstatCollector } from '../collectors/vmstat.js';
import type { DaemonConfig } from './config.js';
import { CgroupDiscovery } from './discovery.js';
import { makeCgroupFilter } from './glob.js';
import { KillLedger, cgroupKey, type LedgerOutput } from './ledger.js';
import { FdBudget, type MemorySample } from './sampler.js';
import { parseMaxOpenFiles } from '../proc/limits.js';
import { StateJournal, ensureStateDir, readState, stateFile, type DaemonState } from './state.js';
import { startHttpServer, type HttpServer } from './server.js';
import { VERSION } from '../version.js';
import { warmUpKillPath } from '../oom/warmup.js';

/**
 * Only if the kernel cannot wake the reader (wakeMode 'poll', logged at start): how often it looks
 * for new records, every 2 ms while records come, every KMSG_IDLE_POLL_MS once the log has been
 * quiet for a second. Each look costs a wakeup (≈ 60–110 µs of CPU in this VM): 2–3 % of a core
 * on an idle host, which the notified reader does not spend (bench/README.md).
 */
const KMSG_POLL_MS = 2;
const KMSG_IDLE_POLL_MS = 4;

/**
 * prom-client's event loop delay histogram samples on a timer of this period (its default, 10 ms,
 * woke the idle daemon 100 times a second: 103 → 9 wakeups/s with 1000). The nodejs_eventloop_lag_*
 * series then reflect delays seen at a 1 s resolution.
 */
const EVENT_LOOP_MONITOR_MS = 1000;

export interface DaemonOptions {
  readonly config: DaemonConfig;
  readonly roots: Roots;
  readonly logger: Logger;
  /** Milliseconds clock, injectable for tests. */
  readonly now?: () => number;
}

interface Health {
  status: 'ok' | 'degraded';
  version: string;
  cgroup: { mode: string; memory_version: number; mount: string; watched: number };
  kmsg: { up: boolean; error: string | null; position: unknown; wake: KmsgWakeMode | null; why_poll: string | null };
  state: { file: string; writable: boolean; error: string | null };
  collectors: Record<string, { ok: boolean; error: string | null }>;
  declared: Record<string, { ok: boolean; error: string | null }>;
}

export class Daemon {
  private config: DaemonConfig;
  private readonly roots: Roots;
  private readonly log: Logger;
  private readonly now: () => number;
  readonly registry = new Registry();
  private layout!: CgroupLayout;
  private backend!: MemoryBackend;
  private memory!: CgroupMemoryCollector;
  private declaredCollector!: DeclaredCollector;
  private kills!: OomKillMetrics;
  private collectors: Collector[] = [];
  private ledger!: KillLedger;
  private readonly parser: OomReportParser;
  private reader: KmsgReader | null = null;
  private kmsgError: string | null = null;
  private discovery: CgroupDiscovery | null = null;
  private server: HttpServer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private filter: (path: string) => boolean;
  private readonly armed = new Map<string, boolean>();
  /**
   * Watched cgroups without the memory controller (v2: their parent's cgroup.subtree_control lacks
   * +memory). Nothing in the cgroup's directory changes when the parent enables it later but the
   * new files, so each poll looks for memory.current in these (usually few) and starts polling.
   */
  private readonly withoutMemory = new Set<string>();
  /**
   * Whether a v2 group kill's repeated kill line is explained by the kernel log (true while the
   * reader runs), or must be taken off the cgroup's counter (no kernel log: see onSample).
   */
  private countsGroupKills = true;
  /** How the kernel log reader was last known to be woken (logged when it changes). */
  private kmsgWake: KmsgWakeMode | undefined;
  private readonly collectorErrors = new Map<string, string | null>();
  private readonly declaredErrors = new Map<string, string | null>();
  private stateWritable = true;
  private stateJournal: StateJournal | null = null;
  private stateError: string | null = null;
  private stateDirty = false;
  /** SEQ of the last kernel log record fully processed (the resume point). */
  private doneSeq: number | undefined;
  private collectorSuccess!: Gauge<'collector'>;
  private collectorDuration!: Gauge<'collector'>;
  private stopped = false;
  /** The poll in progress, if any. */
  private polling: Promise<void> | null = null;

  constructor(opts: DaemonOptions) {
    this.config = opts.config;
    this.roots = opts.roots;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.filter = makeCgroupFilter(this.config.watch.include, this.config.watch.exclude);
    this.parser = new OomReportParser({
      onKill: (e) => this.onKill(e),
      onRepeatedKill: (e) => this.emit(this.ledger.onRepeatedKill(e, this.now())),
    });
  }

  /** The address the HTTP server listens on (after start). */
  get address(): { host: string; port: number } | null {
    return this.server?.address ?? null;
  }

  async start(): Promise<void> {
    this.layout = detectLayout(this.roots);
    this.backend = backendFor(this.layout);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS });
    // prom-client exports these gauges with a counter's `_total` suffix; promtool check metrics
    // (and every Prometheus linter) rejects that. The handle/request counts stay without them.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    new Gauge({ name: 'oomwatch_build_info', help: 'oomwatch version and the cgroup layout it found', labelNames: ['version', 'cgroup_mode', 'memory_cgroup_version'] as const, registers })
      .set({ version: VERSION, cgroup_mode: this.layout.mode, memory_cgroup_version: String(this.backend.version) }, 1);
    this.collectorSuccess = new Gauge({ name: 'oomwatch_collector_success', help: '1 when the collector\'s last run succeeded', labelNames: ['collector'] as const, registers });
    this.collectorDuration = new Gauge({ name: 'oomwatch_collector_duration_seconds', help: 'How long the collector\'s last run took', labelNames: ['collector'] as const, registers });
    this.kills = new OomKillMetrics(this.registry);
    this.memory = new CgroupMemoryCollector(
      this.backend.version,
      this.registry,
      {
        onSample: (path, s, now) => this.onSample(path, s, now),
        onGone: (path) => this.onCgroupGone(path),
        onNotMemory: (path) => {
          this.withoutMemory.add(path);
          this.log.debug({ event: 'cgroup_not_memory', cgroup: path }, `${path} has no memory controller: not polled until its parent enables it`);
        },
        onError: (path, err) => this.log.warn({ event: 'cgroup_read_error', cgroup: path, err: String(err) }, `cannot read cgroup ${path}: ${String(err)}`),
      },
      new FdBudget(this.keptFdBudget()),
    );
    this.declaredCollector = new DeclaredCollector(this.registry, this.backend, this.config.cgroups, (cgroup, drift) =>
      this.log.warn({ event: 'declared_drift', cgroup, drift }, `declared cgroup ${cgroup} differs from the config: ${drift.join('; ')}`),
    );
    this.collectors = [
      this.memory,
      new VmstatCollector(this.roots.proc, this.registry),
      new KmsgCollector(this.registry, () => this.kmsgStatus()),
      this.declaredCollector,
    ];
    this.log.info(
      { event: 'start', version: VERSION, mode: this.layout.mode, memory_cgroup_version: this.backend.version, mount: this.backend.mount, config: { ...this.config } },
      `oomwatch ${VERSION} starting: cgroup ${this.layout.mode}, memory controller v${this.backend.version} at ${this.backend.mount}`,
    );

    const restored = this.loadState();
    this.ledger = new KillLedger(this.graceMs(), restored?.ledger, this.now());
    this.applyDeclared();

    this.discovery = this.newDiscovery();
    await this.discovery.start();

    if (this.config.kmsg) await this.startKmsg(restored);
    else this.kmsgError = 'disabled in the config (kmsg: false)';
    // Fixed for the run, so that a counter never changes meaning under the ledger.
    this.countsGroupKills = this.reader !== null;

    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.config.pollIntervalMs);
    this.server = await startHttpServer(this.config.listen, {
      metrics: async () => ({ contentType: this.registry.contentType, body: await this.registry.metrics() }),
      health: () => this.health(),
    });
    this.log.info({ event: 'listening', address: this.server.address }, `serving /metrics and /healthz on ${this.server.url}`);
  }

  /**
   * RLIMIT_NOFILE less 1,024 (at least half of it) for the samplers' kept-open descriptors; the
   * rest stays for HTTP connections, the kmsg fd, the state file and the transient reads of the
   * cgroups past the budget (discovery needs one inotify fd in all). The limit is this very
   * process's, so it is read from the real /proc, not the injected roots.proc (the observed
   * host's). Unreadable: 512, and a warning.
   */
  private keptFdBudget(): number {
    const file = '/proc/self/limits';
    try {
      const soft = parseMaxOpenFiles(readFileSync(file, 'latin1'), file);
      return soft === null ? Infinity : Math.max(Math.floor(soft / 2), soft - 1024);
    } catch (err) {
      this.log.warn({ event: 'fd_limit_unknown', err: String(err) }, `cannot read the open files limit from ${file}: ${String(err)}; keeping at most 512 cgroup files open`);
      return 512;
    }
  }

  private graceMs(): number {
    return 2 * this.config.pollIntervalMs + 500;
  }

  // ---- state -------------------------------------------------------------------------------

  private loadState(): DaemonState | undefined {
    try {
      ensureStateDir(this.config.stateDir);
    } catch (err) {
      this.stateWritable = false;
      this.stateError = `cannot create state directory ${this.config.stateDir}: ${(err as Error).message}`;
      this.log.warn({ event: 'state_unavailable', err: this.stateError }, `${this.stateError}; kills will not survive a restart (use --state-dir)`);
      return undefined;
    }
    let state: DaemonState | undefined;
    try {
      state = readState(this.config.stateDir);
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
      return readBootId(this.roots);
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
      this.stateJournal ??= new StateJournal(this.config.stateDir);
      this.stateJournal.save({ bootId: this.reader.bootId, seq: this.doneSeq }, this.ledger);
      this.stateDirty = false;
      this.stateError = null;
    } catch (err) {
      const msg = `cannot save ${stateFile(this.config.stateDir)}: ${(err as Error).message}`;
      if (this.stateError !== msg) this.log.error({ event: 'state_save_error', err: msg }, msg);
      this.stateError = msg;
    }
  }

  // ---- kernel log ----------------------------------------------------------------------------

  private async startKmsg(restored: DaemonState | undefined): Promise<void> {
    try {
      this.reader = await openKmsgReader({
        roots: this.roots,
        from: restored?.cursor ?? 'end',
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
        { event: 'kmsg_started', path: this.roots.kmsg, position: this.reader.position, wake, ...(wake === 'poll' ? { why_poll: this.reader.notifierError ?? null } : {}) },
        `following ${this.roots.kmsg} (${wake === 'notify' ? 'woken by the kernel' : `polling: ${this.reader.notifierError ?? 'not a character device'}`})`,
      );
      // Starts the state journal afresh now rather than in the first kill's path (StateJournal).
      this.saveStateNow();
      // And runs the parsing and accounting of a kill once, on a made-up report (oom/warmup.ts).
      for (const e of warmUpKillPath()) new KillLedger(this.graceMs()).onKill(e, 0);
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

  private onKmsgEvents(events: readonly KmsgEvent[]): void {
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
    // A header-less kill line names only the pid. /proc/<pid>/cgroup cannot tell where it was:
    // an exiting task is moved to the root cgroup (cgroup_exit) long before its parent reaps it,
    // so a lookup would name "/" for most victims. The ledger attributes it from the counters.
    this.emit(this.ledger.onKill(event, this.now()));
  }

  private emit(outputs: readonly LedgerOutput[]): void {
    if (outputs.length === 0) return;
    this.saveStateNow();
    for (const o of outputs) {
      if (o.kind === 'kill') {
        const cg = o.event.victim_cgroup;
        this.kills.kill(o.event, this.now(), cg !== null && this.memory.has(cgroupKey(cg)));
        const s = cg === null ? undefined : this.memory.sampleNow(cg);
        // CLOCK_MONOTONIC in µs as the line is written: comparable with kernel_time_us (the
        // kernel's clock, ≈ CLOCK_MONOTONIC), it gives the detection latency (bench/daemon.ts).
        const detectedMonoUs = Number(process.hrtime.bigint() / 1000n);
        this.log.warn(
          {
            event: 'oom_kill',
            ...o.event,
            attributed_by: o.attributedBy,
            cgroup_limit_bytes: s?.max ?? null,
            cgroup_usage_bytes: s?.current ?? null,
            cgroup_peak_bytes: s?.peak ?? null,
            boot_id: this.reader?.bootId ?? null,
            wall_time: new Date().toISOString(),
            detected_mono_us: detectedMonoUs,
          },
          `OOM kill: ${o.event.process} (pid ${o.event.pid}) in cgroup ${cg ?? '(unknown)'}`,
        );
      } else {
        this.kills.unexplainedKills(o.cgroup, o.count);
        this.log.warn(
          { event: 'oom_kill_unexplained', cgroup: o.cgroup, count: o.count, boot_id: this.reader?.bootId ?? null, wall_time: new Date().toISOString() },
          `the kernel counted ${o.count} OOM kill(s) in cgroup ${o.cgroup} that no kernel log record explained`,
        );
      }
    }
  }

  private kmsgStatus(): KmsgStatus {
    const s = this.reader?.stats();
    return {
      up: this.reader !== null && this.kmsgError === null,
      records: s?.records ?? 0,
      lost: s?.lost ?? 0,
      foreign: s?.foreign ?? 0,
      malformed: s?.malformed ?? 0,
    };
  }

  // ---- cgroups -----------------------------------------------------------------------------

  /**
   * cgroup v2's "no internal processes" rule (Documentation/admin-guide/cgroup-v2.rst): a cgroup
   * declared below the daemon's own cgroup needs +memory in that cgroup's cgroup.subtree_control,
   * which the kernel refuses (EBUSY) while the daemon is a process of it. That is the case of the
   * systemd unit (Delegate=yes: its cgroups go under /system.slice/oomwatch.service). So the
   * daemon first moves itself into a leaf of its own cgroup, `<own>/daemon`, as systemd 254's
   * DelegateSubgroup= would (Debian 12's systemd 252 has no such setting). Its own cgroup is read
   * from the real /proc/self/cgroup (the `0::` line), like keptFdBudget's /proc/self/limits.
   */
  private leaveOwnCgroupIfDeclaredBelow(): void {
    if (this.backend.version !== 2) return;
    let own: string | undefined;
    try {
      own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    } catch (err) {
      this.log.warn({ event: 'own_cgroup_unknown', err: String(err) }, `cannot read /proc/self/cgroup: ${String(err)}`);
      return;
    }
    if (own === undefined || own === '/' || !this.config.cgroups.some((d) => d.path.startsWith(`${own}/`))) return;
    if (!this.backend.exists(own)) return; // our cgroup is not in the tree this daemon watches (a test's fixture tree)
    const leaf = `${own}/daemon`;
    if (this.config.cgroups.some((d) => d.path === leaf || d.path.startsWith(`${leaf}/`))) return;
    try {
      // A plain mkdir: backend.create would first enable +memory in our own cgroup, the very
      // write the kernel refuses until we have left it.
      mkdirSync(this.backend.dir(leaf), { recursive: true });
      this.backend.classify(leaf, process.pid);
      this.log.info({ event: 'moved_to_leaf', from: own, to: leaf }, `moved into ${leaf}: cgroups declared below ${own} need its subtree_control, which the kernel refuses while this daemon is in ${own}`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.log.error({ event: 'move_to_leaf_failed', cgroup: leaf, err: msg }, `cannot move into ${leaf}: ${msg}`);
    }
  }

  private applyDeclared(): void {
    this.leaveOwnCgroupIfDeclaredBelow();
    for (const d of this.config.cgroups) {
      this.kills.declare(d.path);
      try {
        const { created } = createWithLimits(this.backend, d.path, d.limits);
        this.declaredErrors.set(d.path, null);
        this.log.info({ event: 'declared_applied', cgroup: d.path, created, limits: d.limits }, `declared cgroup ${d.path} ${created.includes(d.path) ? 'created' : 'configured'}`);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        this.declaredErrors.set(d.path, msg);
        this.log.error({ event: 'declared_failed', cgroup: d.path, err: msg }, `declared cgroup ${d.path}: ${msg}`);
      }
    }
  }

  private onCgroupAdded(path: string, initial: boolean): void {
    if (!this.filter(path) || this.memory.has(path)) return;
    if (this.backend.version === 2 && path === '/') return; // the v2 root has no memory.current
    this.memory.add(path, this.backend.dir(path));
    if (!initial) this.ledger.born(path);
    this.kills.cgroupBack(path);
    this.log.debug({ event: 'cgroup_added', cgroup: path }, `watching ${path}`);
  }

  private onCgroupRemoved(path: string): void {
    this.withoutMemory.delete(path);
    if (!this.memory.has(path)) return;
    this.memory.remove(path);
    this.onCgroupGone(path);
  }

  private onCgroupGone(path: string): void {
    this.armed.delete(path);
    this.kills.cgroupGone(path, this.now());
    this.emit(this.ledger.forget(path));
    this.log.debug({ event: 'cgroup_removed', cgroup: path }, `${path} is gone`);
  }

  private onSample(path: string, s: MemorySample, now: number): void {
    if (s.ownOomKills !== null) {
      // A v2 group kill counts its first victim twice (FACTS.md: 4 processes, oom_kill 5). With
      // the kernel log, the repeated kill line explains the extra increment (onRepeatedKill);
      // without it, each group kill of the cgroup takes one off. Exact when the processes are in
      // the cgroup that has memory.oom.group (a container's). A cgroup with memory-enabled
      // children has no processes of its own (v2's no-internal-process rule): its own oom_kill
      // stays 0 and nothing is taken off, and the first victim's extra count in the child stays.
      const kills = this.countsGroupKills ? s.ownOomKills : s.ownOomKills - Math.min(s.ownGroupKills ?? 0, s.ownOomKills);
      this.emit(this.ledger.onCounter(path, kills, now));
    }
    if (s.max === null || s.max === 0) return;
    const ratio = s.workingSet / s.max;
    const { workingSetRatio, hysteresis } = this.config.warn;
    const armed = this.armed.get(path) ?? true;
    if (armed && ratio >= workingSetRatio) {
      this.armed.set(path, false);
      this.log.warn(
        { event: 'near_limit', cgroup: path, working_set_bytes: s.workingSet, limit_bytes: s.max, ratio: Number(ratio.toFixed(4)), threshold: workingSetRatio },
        `cgroup ${path} working set is at ${(ratio * 100).toFixed(1)}% of its limit`,
      );
    } else if (!armed && ratio < workingSetRatio - hysteresis) {
      this.armed.set(path, true);
      this.log.info({ event: 'near_limit_cleared', cgroup: path, ratio: Number(ratio.toFixed(4)) }, `cgroup ${path} is back below ${((workingSetRatio - hysteresis) * 100).toFixed(0)}% of its limit`);
    }
  }

  // ---- the poll loop -------------------------------------------------------------------------

  /**
   * One poll: every collector, then the ledger. The cgroup sweep yields to the event loop between
   * slices (Collector.updateInSlices); a tick that comes while a poll is still running is skipped,
   * and stop() waits for the running one before it closes the cgroup files.
   */
  private poll(): Promise<void> {
    if (this.polling !== null || this.stopped) return this.polling ?? Promise.resolve();
    this.polling = this.pollOnce().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const now = this.now();
    for (const c of this.collectors) {
      const t0 = process.hrtime.bigint();
      try {
        if (c.updateInSlices === undefined) c.update(now);
        else await c.updateInSlices(now, () => this.stopped);
        if (this.stopped) return;
        this.collectorSuccess.set({ collector: c.name }, 1);
        if (this.collectorErrors.get(c.name)) this.log.info({ event: 'collector_recovered', collector: c.name }, `collector ${c.name} works again`);
        this.collectorErrors.set(c.name, null);
      } catch (err) {
        this.collectorSuccess.set({ collector: c.name }, 0);
        const msg = err instanceof Error ? err.message : String(err);
        if (this.collectorErrors.get(c.name) !== msg) this.log.error({ event: 'collector_failed', collector: c.name, err: msg }, `collector ${c.name} failed: ${msg}`);
        this.collectorErrors.set(c.name, msg);
      }
      this.collectorDuration.set({ collector: c.name }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    this.emit(this.ledger.tick(now));
    this.kills.expire(now);
    this.recheckWithoutMemory();
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

  private recheckWithoutMemory(): void {
    for (const path of this.withoutMemory) {
      const dir = this.backend.dir(path);
      if (!existsSync(dir) || !this.filter(path)) {
        this.withoutMemory.delete(path);
      } else if (existsSync(join(dir, this.backend.version === 2 ? 'memory.current' : 'memory.usage_in_bytes'))) {
        this.withoutMemory.delete(path);
        this.log.info({ event: 'cgroup_memory_enabled', cgroup: path }, `${path} has the memory controller now: polled from here on`);
        // Its memory.events starts at 0 now: every kill it counts is one to account for.
        this.onCgroupAdded(path, false);
      }
    }
  }

  // ---- config reload -------------------------------------------------------------------------

  /** Apply a new config: declared cgroups, watch patterns, warn thresholds. Listen/state changes need a restart. */
  reload(next: DaemonConfig): void {
    const restartNeeded: string[] = [];
    if (next.listen.host !== this.config.listen.host || next.listen.port !== this.config.listen.port) restartNeeded.push('listen');
    if (next.stateDir !== this.config.stateDir) restartNeeded.push('state_dir');
    if (next.kmsg !== this.config.kmsg) restartNeeded.push('kmsg');
    if (next.pollIntervalMs !== this.config.pollIntervalMs && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = setInterval(() => void this.poll(), next.pollIntervalMs);
    }
    this.config = { ...next, listen: this.config.listen, stateDir: this.config.stateDir, kmsg: this.config.kmsg };
    this.filter = makeCgroupFilter(next.watch.include, next.watch.exclude);
    for (const path of [...this.memory.paths()]) {
      if (!this.filter(path)) this.memory.remove(path);
    }
    this.declaredCollector.setDeclared(next.cgroups);
    this.applyDeclared();
    this.log.info({ event: 'config_reloaded', restart_needed: restartNeeded }, restartNeeded.length > 0 ? `config reloaded; ${restartNeeded.join(', ')} change(s) take effect after a restart` : 'config reloaded');
    // Cgroups newly included by the patterns: the tree is rescanned by discovery's next events;
    // rescan now so they are polled at once.
    void this.rescan();
  }

  private newDiscovery(): CgroupDiscovery {
    return new CgroupDiscovery(this.backend.mount, {
      onAdd: (path, initial) => this.onCgroupAdded(path, initial),
      onRemove: (path) => this.onCgroupRemoved(path),
      onError: (err) => this.log.warn({ event: 'discovery_error', err: String(err) }, `cgroup discovery: ${String(err)}`),
    });
  }

  private async rescan(): Promise<void> {
    await this.discovery?.stop();
    this.discovery = this.newDiscovery();
    await this.discovery.start();
  }

  // ---- health and shutdown ---------------------------------------------------------------------

  health(): Health {
    const collectors: Health['collectors'] = {};
    for (const c of this.collectors) {
      const err = this.collectorErrors.get(c.name) ?? null;
      collectors[c.name] = { ok: err === null, error: err };
    }
    const declared: Health['declared'] = {};
    for (const [path, err] of this.declaredErrors) declared[path] = { ok: err === null, error: err };
    const kmsgUp = this.reader !== null && this.kmsgError === null;
    const degraded = !kmsgUp || Object.values(collectors).some((c) => !c.ok) || Object.values(declared).some((d) => !d.ok) || this.stateError !== null;
    return {
      status: degraded ? 'degraded' : 'ok',
      version: VERSION,
      cgroup: { mode: this.layout.mode, memory_version: this.backend.version, mount: this.backend.mount, watched: [...this.memory.paths()].length },
      kmsg: {
        up: kmsgUp,
        error: this.kmsgError,
        position: this.reader?.position ?? null,
        wake: this.reader?.wakeMode ?? null,
        why_poll: this.reader?.wakeMode === 'poll' ? (this.reader.notifierError ?? null) : null,
      },
      state: { file: stateFile(this.config.stateDir), writable: this.stateWritable, error: this.stateError },
      collectors,
      declared,
    };
  }

  /** Flush what is held, save the cursor, close the listener. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.polling;
    await this.reader?.stop();
    this.parser.idle();
    this.saveStateNow();
    this.stateJournal?.close();
    await Promise.all([this.server?.close(), this.discovery?.stop()]);
    this.memory?.close();
    this.log.info({ event: 'stop' }, 'oomwatch stopped');
  }
}

