/**
 * `oomwatch daemon`, composed: the HTTP listener (bound first), the state directory's lock, the
 * kill pipeline (killPipeline.ts), the cgroup poller (poller.ts), container identities
 * (identities.ts), the record of the last kills (recentKills.ts), the near-limit and early warners
 * (nearLimit.ts, earlyWarning.ts with fastSampler.ts, killEvidence.ts, hooks.ts) and the declared
 * cgroups (declaredCgroups.ts), built from the config; config reloads, /healthz, and the shutdown.
 * docs/architecture.md draws the data flow.
 */
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import type { Roots } from '../roots.js';
import type { MemoryBackend } from '../cgroup/backend.js';
import { detectLayout, type CgroupLayout } from '../cgroup/mode.js';
import { backendFor } from '../cgroup/open.js';
import { KmsgCollector } from '../collectors/kmsg.js';
import { CollectorRunner, type CollectorStatus } from '../collectors/runner.js';
import { VmstatCollector } from '../collectors/vmstat.js';
import { VERSION } from '../version.js';
import { KILL_SERIES_RETENTION_MS } from '../collectors/oomKills.js';
import { runtimeRootsOf, type DaemonConfig } from './config.js';
import { ContainerIdentities } from './identities.js';
import { DeclaredCgroups } from './declaredCgroups.js';
import { KillPipeline, type KillPipelineHealth } from './killPipeline.js';
import { NearLimitWarner } from './nearLimit.js';
import { EarlyWarner } from './earlyWarning.js';
import { FastSampler } from './fastSampler.js';
import { HookRunner } from './hooks.js';
import { KillEvidence } from './killEvidence.js';
import { CgroupPoller } from './poller.js';
import { RecentKills } from './recentKills.js';
import { registerProcessMetrics } from './processMetrics.js';
import { listenHttp, type HttpServer } from './server.js';
import { StateDirLock } from './stateLock.js';

export interface DaemonOptions {
  readonly config: DaemonConfig;
  readonly roots: Roots;
  readonly logger: Logger;
  /** Milliseconds clock, injectable for tests. */
  readonly now?: () => number;
}

type Health = { status: 'ok' | 'degraded'; version: string; cgroup: { mode: string; memory_version: number; mount: string; watched: number } } & KillPipelineHealth & {
  recent_kills: { file: string; error: string | null };
  collectors: Record<string, CollectorStatus>;
  declared: Record<string, CollectorStatus>;
};

export class Daemon {
  private config: DaemonConfig;
  private readonly log: Logger;
  readonly registry = new Registry();
  private layout!: CgroupLayout;
  private backend!: MemoryBackend;
  private server: HttpServer | null = null;
  private lock: StateDirLock | null = null;
  private pipeline: KillPipeline | null = null;
  private recentKills: RecentKills | null = null;
  private poller: CgroupPoller | null = null;
  private declared!: DeclaredCgroups;
  private warner!: NearLimitWarner;
  private identities!: ContainerIdentities;
  private early!: EarlyWarner;
  private hooks!: HookRunner;
  private fast: FastSampler | null = null;
  private stopped = false;

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.logger;
  }

  /**
   * Bind the listener, take the state directory, then start everything. A listener that cannot
   * bind or a state directory another daemon holds throws before anything is read or written.
   */
  async start(): Promise<void> {
    const { config, roots, now = Date.now } = this.opts;
    this.layout = detectLayout(roots);
    this.backend = backendFor(this.layout);
    const server = await listenHttp(config.listen);
    try {
      this.lock = StateDirLock.acquire(config.stateDir);
    } catch (err) {
      await server.close();
      throw err;
    }
    this.server = server;
    const registry = this.registry;
    registerProcessMetrics(registry);
    new Gauge({ name: 'oomwatch_build_info', help: 'oomwatch version and the cgroup layout it found', labelNames: ['version', 'cgroup_mode', 'memory_cgroup_version'] as const, registers: [registry] })
      .set({ version: VERSION, cgroup_mode: this.layout.mode, memory_cgroup_version: String(this.backend.version) }, 1);
    const runner = new CollectorRunner(registry, this.log);
    const identities = (this.identities = new ContainerIdentities({
      roots: runtimeRootsOf(config.runtimes), retentionMs: KILL_SERIES_RETENTION_MS, registry, log: this.log, now,
    }));
    this.hooks = new HookRunner(config.hooks, this.log, registry);
    const evidence = new KillEvidence(this.backend, roots.proc, this.log, this.hooks);
    const recentKills = (this.recentKills = new RecentKills(config.stateDir, config.recentKills, this.log, now));
    const pipeline = (this.pipeline = new KillPipeline({
      roots, stateDir: config.stateDir, graceMs: 2 * config.pollIntervalMs + 500, registry, log: this.log, now, identities,
      cgroups: { watches: (p) => this.poller?.watches(p) ?? false, usageNow: (p) => this.poller?.usageNow(p) },
      onKill: (e) => evidence.killed(e), recentKills,
    }));
    this.warner = new NearLimitWarner(config.warn, this.log);
    this.early = new EarlyWarner(config.early, this.backend.version, registry, this.log, (path) => evidence.read(path), (w) => this.hooks.run('warning', w));
    const fast = (this.fast = new FastSampler(this.early, (p) => this.poller?.sampleNow(p), now, () => ({ fastPollMs: this.config.early.fastPollMs, pollIntervalMs: this.config.pollIntervalMs })));
    const poller = (this.poller = new CgroupPoller({
      backend: this.backend, watch: config.watch, registry, log: this.log, now, runner,
      hooks: {
        added: (path, initial) => (identities.added(path), pipeline.cgroupAdded(path, initial)),
        sampled: (path, s, now) => (pipeline.sampled(path, s, now), this.warner.observe(path, s), this.early.observe(path, s, now)),
        gone: (path) => (this.warner.forget(path), this.early.forget(path), pipeline.cgroupGone(path), identities.gone(path)),
        afterPoll: (now) => (identities.refresh(), pipeline.afterPoll(now), recentKills.maintain(), fast.update()),
      },
    }));
    this.declared = new DeclaredCgroups(this.backend, registry, this.log, (path) => pipeline.kills.declare(path));
    runner.add(new VmstatCollector(roots.proc, registry), new KmsgCollector(registry, () => pipeline.kmsgStatus()), this.declared.collector);
    const { mode } = this.layout, { version, mount } = this.backend;
    this.log.info({ event: 'start', version: VERSION, mode, memory_cgroup_version: version, mount, config: { ...config } }, `oomwatch ${VERSION} starting: cgroup ${mode}, memory controller v${version} at ${mount}`);
    pipeline.restore();
    // Opened before the kernel log is followed: it must know the kills recorded before a restart.
    recentKills.open();
    this.declared.apply(config.cgroups);
    await poller.start();
    await pipeline.follow(config.kmsg);
    await poller.every(config.pollIntervalMs);
    server.serve({
      metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
      health: () => this.health(),
    });
    this.log.info({ event: 'listening', address: server.address }, `serving /metrics and /healthz on ${server.url}`);
  }

  /** Apply a new config: declared cgroups, watch patterns, warn thresholds. Listen/state changes need a restart. */
  reload(next: DaemonConfig): void {
    const differs = { listen: next.listen.host !== this.config.listen.host || next.listen.port !== this.config.listen.port, state_dir: next.stateDir !== this.config.stateDir, kmsg: next.kmsg !== this.config.kmsg };
    const restartNeeded = Object.entries(differs).flatMap(([key, d]) => (d ? [key] : []));
    if (next.pollIntervalMs !== this.config.pollIntervalMs) void this.poller?.every(next.pollIntervalMs);
    this.config = { ...next, listen: this.config.listen, stateDir: this.config.stateDir, kmsg: this.config.kmsg };
    this.warner.setThresholds(next.warn);
    this.identities.setRoots(runtimeRootsOf(next.runtimes));
    this.early.setConfig(next.early);
    this.hooks.setConfig(next.hooks);
    this.recentKills?.setBound(next.recentKills);
    this.declared.apply(next.cgroups);
    this.log.info({ event: 'config_reloaded', restart_needed: restartNeeded }, restartNeeded.length > 0 ? `config reloaded; ${restartNeeded.join(', ')} change(s) take effect after a restart` : 'config reloaded');
    // Cgroups newly included by the patterns are polled at once: the tree is rescanned now.
    void this.poller?.setWatch(next.watch);
  }

  health(): Health {
    const pipeline = (this.pipeline as KillPipeline).health();
    const collectors = this.poller?.collectors() ?? {};
    const declared = this.declared.status();
    const failed = (r: Record<string, CollectorStatus>) => Object.values(r).some((c) => !c.ok);
    const recentKills = (this.recentKills as RecentKills).status();
    const degraded = !pipeline.kmsg.up || failed(collectors) || failed(declared) || pipeline.state.error !== null || recentKills.error !== null;
    return {
      status: degraded ? 'degraded' : 'ok',
      version: VERSION,
      cgroup: { mode: this.layout.mode, memory_version: this.backend.version, mount: this.backend.mount, watched: this.poller?.watched ?? 0 },
      ...pipeline,
      recent_kills: recentKills,
      collectors,
      declared,
    };
  }

  /** Flush what is held, save the cursor, close the listener, give the state directory back. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.fast?.stop();
    this.hooks?.stop();
    await this.poller?.stop();
    await this.pipeline?.stop();
    this.recentKills?.close();
    await Promise.all([this.server?.close(), this.poller?.close()]);
    this.lock?.release();
    // A start refused before it began (ListenError, StateDirLockedError) has nothing to stop.
    if (this.server !== null) this.log.info({ event: 'stop' }, 'oomwatch stopped');
  }
}
