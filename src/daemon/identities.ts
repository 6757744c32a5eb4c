/**
 * Container identities for the daemon: read from the runtimes' files on disk when a watched
 * cgroup of a container appears (runtime/read.ts), kept after the cgroup is gone as long as its
 * kill series (runtime/cache.ts), looked up by container id when a kill is reported. The kill path
 * only looks up: a kill whose identity is not known yet is reported at once with what its cgroup
 * path says.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { resolveOwner } from '../oom/owner.js';
import { IdentityCache, MalformedFiles } from '../runtime/cache.js';
import type { ContainerIdentity } from '../runtime/identity.js';
import { readIdentity, type IdentityRead } from '../runtime/read.js';
import type { RuntimeRoots } from '../runtime/roots.js';

/**
 * How many polls an identity is read again while it is incomplete: while no file names the
 * container yet, or no init pid is recorded (dockerd writes `State.Pid`, containerd's shim
 * `init.pid`, only after runc has created the cgroup and started the process). A container created
 * but never started keeps its cgroup without a pid; after this many polls it is left as it is.
 */
export const REREAD_POLLS = 30;

/** At most this many identities are kept (live and retained), and as many malformed files remembered. */
export const MAX_IDENTITIES = 10_000;

export interface ContainerIdentitiesOptions {
  roots: RuntimeRoots;
  /** How long an identity outlives its container's cgroup: the kill series' retention. */
  readonly retentionMs: number;
  readonly registry: Registry;
  readonly log: Logger;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  /** The reader; readIdentity unless a test gives another. */
  readonly read?: typeof readIdentity;
}

export class ContainerIdentities {
  private roots: RuntimeRoots;
  private readonly cache: IdentityCache;
  private readonly malformed = new MalformedFiles(MAX_IDENTITIES);
  private readonly errors: Counter;
  private readonly read: typeof readIdentity;
  /** The watched cgroups of each container id (a container may create cgroups below its own). */
  private readonly paths = new Map<string, Set<string>>();
  /** Container ids whose identity is incomplete, with the polls left to read it again. */
  private readonly incomplete = new Map<string, number>();

  constructor(private readonly opts: ContainerIdentitiesOptions) {
    this.roots = opts.roots;
    this.read = opts.read ?? readIdentity;
    this.cache = new IdentityCache({ retentionMs: opts.retentionMs, maxEntries: MAX_IDENTITIES, now: opts.now });
    this.errors = new Counter({
      name: 'oomwatch_runtime_metadata_errors_total',
      help: "Container runtime metadata files that were there but malformed or unreadable (each file is logged once)",
      registers: [opts.registry],
    });
    this.errors.inc(0);
  }

  /** Read from other roots from now on (a config reload). */
  setRoots(roots: RuntimeRoots): void {
    this.roots = roots;
  }

  /**
   * A watched cgroup appeared. Only a path that names a container id costs a read, and only the
   * first of its container's cgroups.
   */
  added(path: string): void {
    const owner = resolveOwner(path);
    const id = owner.container_id;
    if (id === null) return;
    let set = this.paths.get(id);
    if (set === undefined) this.paths.set(id, (set = new Set()));
    set.add(path);
    if (set.size > 1 && this.cache.get(id) !== undefined) return;
    this.load(id, path);
  }

  /** After a poll: read the incomplete identities again. */
  refresh(): void {
    for (const [id, left] of this.incomplete) {
      const path = this.paths.get(id)?.values().next().value;
      if (path === undefined || left <= 0) {
        this.incomplete.delete(id);
        continue;
      }
      this.incomplete.set(id, left - 1);
      this.load(id, path);
    }
  }

  /** A watched cgroup is gone: its container's identity is retained once its last cgroup is. */
  gone(path: string): void {
    const id = resolveOwner(path).container_id;
    if (id === null) return;
    const set = this.paths.get(id);
    set?.delete(path);
    if (set !== undefined && set.size > 0) return;
    this.paths.delete(id);
    this.incomplete.delete(id);
    this.cache.gone(id);
  }

  /** The identity of a container, live or retained; undefined when unknown. A map lookup, no I/O. */
  get(containerId: string | null): ContainerIdentity | undefined {
    return containerId === null ? undefined : this.cache.get(containerId);
  }

  private load(id: string, path: string): void {
    let r: IdentityRead;
    try {
      r = this.read(resolveOwner(path), this.roots);
    } catch (err) {
      // readIdentity turns every file error into a value; anything else is a bug, not the host's.
      this.opts.log.error({ event: 'runtime_read_failed', cgroup: path, err: String(err) }, `reading the runtime's files for ${path} failed: ${String(err)}`);
      this.incomplete.delete(id);
      return;
    }
    if (r.error !== null) {
      this.errors.inc();
      const file = r.errorFile ?? r.error.message;
      if (this.malformed.note(file)) {
        this.opts.log.warn(
          { event: 'runtime_metadata_error', file, cgroup: path, err: r.error.message },
          `cannot use ${file} (container of cgroup ${path}): ${r.error.message}; its container is reported with what its cgroup path says`,
        );
      }
    }
    const complete = r.identity !== null && r.identity.init_pid !== null;
    if (r.identity !== null) {
      const before = this.cache.get(id);
      this.cache.set(id, r.identity);
      if (before === undefined || (before.init_pid === null && complete)) {
        const { namespace, pod, container, container_name, init_pid } = r.identity;
        this.opts.log.debug(
          { event: 'container_identified', cgroup: path, container_id: id, namespace, pod, container, container_name, init_pid, sources: r.sources },
          `${path}: container ${container_name ?? id} of pod ${namespace ?? '?'}/${pod ?? '?'}${init_pid === null ? ' (init pid not known yet)' : `, init pid ${init_pid}`}`,
        );
      }
    }
    if (complete || r.error !== null) this.incomplete.delete(id);
    else if (!this.incomplete.has(id)) this.incomplete.set(id, REREAD_POLLS);
  }
}
