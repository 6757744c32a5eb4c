import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { MemoryBackend } from '../cgroup/backend.js';
import { createWithLimits } from '../cgroup/create.js';
import { DeclaredCollector } from '../collectors/declared.js';
import type { CollectorStatus } from '../collectors/runner.js';
import type { DeclaredCgroup } from './config.js';

/**
 * The cgroups the config declares: created with their limits at start and at each reload, then
 * watched for drift by their collector. `onDeclare` gives each one's kill series a start at 0.
 */
export class DeclaredCgroups {
  readonly collector: DeclaredCollector;
  private readonly errors = new Map<string, string | null>();

  constructor(
    private readonly backend: MemoryBackend,
    registry: Registry,
    private readonly log: Logger,
    private readonly onDeclare: (path: string) => void,
  ) {
    this.collector = new DeclaredCollector(registry, backend, [], (cgroup, drift) =>
      this.log.warn({ event: 'declared_drift', cgroup, drift }, `declared cgroup ${cgroup} differs from the config: ${drift.join('; ')}`),
    );
  }

  apply(declared: readonly DeclaredCgroup[]): void {
    this.collector.setDeclared(declared);
    try {
      const moved = this.backend.leaveOwnCgroupFor(declared.map((d) => d.path));
      if (moved !== null) {
        this.log.info({ event: 'moved_to_leaf', ...moved }, `moved into ${moved.to}: cgroups declared below ${moved.from} need its subtree_control, which the kernel refuses while this daemon is in ${moved.from}`);
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.log.error({ event: 'move_to_leaf_failed', err: msg }, `cannot move out of this daemon's own cgroup to create the declared cgroups below it: ${msg}`);
    }
    for (const d of declared) {
      this.onDeclare(d.path);
      try {
        const { created } = createWithLimits(this.backend, d.path, d.limits);
        this.errors.set(d.path, null);
        this.log.info({ event: 'declared_applied', cgroup: d.path, created, limits: d.limits }, `declared cgroup ${d.path} ${created.includes(d.path) ? 'created' : 'configured'}`);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        this.errors.set(d.path, msg);
        this.log.error({ event: 'declared_failed', cgroup: d.path, err: msg }, `declared cgroup ${d.path}: ${msg}`);
      }
    }
  }

  status(): Record<string, CollectorStatus> {
    const out: Record<string, CollectorStatus> = {};
    for (const [path, err] of this.errors) out[path] = { ok: err === null, error: err };
    return out;
  }
}
