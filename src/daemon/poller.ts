/**
 * The cgroup poller: discovery (which memory cgroups exist, as they come and go) → the backend's
 * samplers (their memory files, once per poll) → the per-cgroup series; and the poll loop that
 * runs every registered collector through the CollectorRunner.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { MemoryBackend } from '../cgroup/backend.js';
import { FdBudget, type CgroupUsage, type MemorySample } from '../cgroup/sampler.js';
import { parseMaxOpenFiles } from '../proc/limits.js';
import { CgroupMemoryCollector } from '../collectors/cgroupMemory.js';
import { CollectorRunner, type CollectorStatus } from '../collectors/runner.js';
import { CgroupDiscovery } from './discovery.js';
import { makeCgroupFilter } from './glob.js';

export interface CgroupPollerHooks {
  /** A cgroup is now watched: at start (`initial`), or created (or given the memory controller) since. */
  added(path: string, initial: boolean): void;
  sampled(path: string, sample: MemorySample, now: number): void;
  /** A watched cgroup is gone. */
  gone(path: string): void;
  /** Every collector has run: the kill ledger's turn. */
  afterPoll(now: number): void;
}

export interface CgroupPollerOptions {
  readonly backend: MemoryBackend;
  readonly watch: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  readonly registry: Registry;
  readonly log: Logger;
  /** Runs the collectors at each poll; the poller adds the cgroup memory collector to it. */
  readonly runner: CollectorRunner;
  readonly hooks: CgroupPollerHooks;
  /** Milliseconds clock. */
  readonly now: () => number;
}

export class CgroupPoller {
  private readonly backend: MemoryBackend;
  private readonly log: Logger;
  private readonly hooks: CgroupPollerHooks;
  private readonly memory: CgroupMemoryCollector;
  private readonly runner: CollectorRunner;
  private filter: (path: string) => boolean;
  private discovery: CgroupDiscovery | null = null;
  /**
   * Watched cgroups without the memory controller (v2: their parent's cgroup.subtree_control lacks
   * +memory). Nothing in the cgroup's directory changes when the parent enables it later but the
   * new files, so each poll looks for them in these (usually few) and starts polling.
   */
  private readonly withoutMemory = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** The poll in progress, if any. */
  private polling: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly opts: CgroupPollerOptions) {
    this.backend = opts.backend;
    this.log = opts.log;
    this.hooks = opts.hooks;
    this.filter = makeCgroupFilter(opts.watch.include, opts.watch.exclude);
    this.memory = new CgroupMemoryCollector(
      this.backend,
      opts.registry,
      {
        onSample: (path, s, now) => this.hooks.sampled(path, s, now),
        onGone: (path) => this.gone(path),
        onNotMemory: (path) => {
          this.withoutMemory.add(path);
          this.log.debug({ event: 'cgroup_not_memory', cgroup: path }, `${path} has no memory controller: not polled until its parent enables it`);
        },
        onError: (path, err) => this.log.warn({ event: 'cgroup_read_error', cgroup: path, err: String(err) }, `cannot read cgroup ${path}: ${String(err)}`),
      },
      new FdBudget(this.keptFdBudget()),
    );
    this.runner = opts.runner;
    this.runner.add(this.memory);
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

  /** Find the cgroups there are (resolves once the existing tree has been reported) and follow them. */
  async start(): Promise<void> {
    this.discovery = new CgroupDiscovery(this.backend.mount, {
      onAdd: (path, initial) => this.added(path, initial),
      onRemove: (path) => this.removed(path),
      onError: (err) => this.log.warn({ event: 'discovery_error', err: String(err) }, `cgroup discovery: ${String(err)}`),
    });
    await this.discovery.start();
  }

  /** Poll now, then every `intervalMs` (a new interval replaces the old one). */
  async every(intervalMs: number): Promise<void> {
    if (this.timer === null) await this.poll();
    else clearInterval(this.timer);
    this.timer = setInterval(() => void this.poll(), intervalMs);
  }

  /** Follow new watch patterns: drop the cgroups they exclude, rescan for those they include. */
  async setWatch(watch: CgroupPollerOptions['watch']): Promise<void> {
    this.filter = makeCgroupFilter(watch.include, watch.exclude);
    for (const path of [...this.memory.paths()]) {
      if (!this.filter(path)) this.memory.remove(path);
    }
    await this.discovery?.stop();
    await this.start();
  }

  private added(path: string, initial: boolean): void {
    if (!this.filter(path) || this.memory.has(path) || !this.backend.canSample(path)) return;
    this.memory.add(path);
    this.hooks.added(path, initial);
    this.log.debug({ event: 'cgroup_added', cgroup: path }, `watching ${path}`);
  }

  private removed(path: string): void {
    this.withoutMemory.delete(path);
    if (!this.memory.has(path)) return;
    this.memory.remove(path);
    this.gone(path);
  }

  private gone(path: string): void {
    this.hooks.gone(path);
    this.log.debug({ event: 'cgroup_removed', cgroup: path }, `${path} is gone`);
  }

  watches(path: string): boolean {
    return this.memory.has(path);
  }

  /** How many cgroups are polled. */
  get watched(): number {
    return [...this.memory.paths()].length;
  }

  sampleNow(path: string): MemorySample | undefined {
    return this.memory.sampleNow(path);
  }

  usageNow(path: string): CgroupUsage | undefined {
    return this.memory.usageNow(path);
  }

  collectors(): Record<string, CollectorStatus> {
    return this.runner.status();
  }

  /**
   * One poll: every collector, then afterPoll. The cgroup sweep yields to the event loop between
   * slices (Collector.updateInSlices); a tick that comes while a poll is still running is skipped,
   * and stop() waits for the running one before it closes the cgroup files.
   */
  poll(): Promise<void> {
    if (this.polling !== null || this.stopped) return this.polling ?? Promise.resolve();
    this.polling = this.pollOnce().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const now = this.opts.now();
    if (!(await this.runner.run(now, () => this.stopped))) return;
    this.recheckWithoutMemory();
    this.hooks.afterPoll(now);
  }

  private recheckWithoutMemory(): void {
    for (const path of this.withoutMemory) {
      if (!existsSync(this.backend.dir(path)) || !this.filter(path)) {
        this.withoutMemory.delete(path);
      } else if (this.backend.hasMemoryFiles(path)) {
        this.withoutMemory.delete(path);
        this.log.info({ event: 'cgroup_memory_enabled', cgroup: path }, `${path} has the memory controller now: polled from here on`);
        // Its memory.events starts at 0 now: every kill it counts is one to account for.
        this.added(path, false);
      }
    }
  }

  /** Stop polling; resolves once a poll in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.polling;
  }

  /** After stop(): stop discovery, close the cgroup files. */
  async close(): Promise<void> {
    await this.discovery?.stop();
    this.memory.close();
  }
}
