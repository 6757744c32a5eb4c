/**
 * Identities by container id, kept for a while after the container's cgroup is gone. An OOM kill of
 * a container's init process ends the container: the runtime deletes its files (containerd's bundle
 * at once) and the cgroup goes away, while the kernel's report may still be on its way through
 * /dev/kmsg. So the identity read when the cgroup appeared is kept for `retentionMs` after it is
 * gone. Pure: the clock is injected; the size is bounded.
 */
import type { ContainerIdentity } from './identity.js';

export interface IdentityCacheOptions {
  /** How long an identity is kept after `gone()`. */
  readonly retentionMs: number;
  /** At most this many identities; the oldest gone one, else the oldest one, makes room. */
  readonly maxEntries: number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
}

interface Entry {
  identity: ContainerIdentity;
  /** When the cgroup went away; null while it exists. */
  goneAt: number | null;
}

export class IdentityCache {
  readonly #opts: IdentityCacheOptions;
  /** Insertion order is age: `set` re-inserts, so the first entries are the oldest. */
  readonly #entries = new Map<string, Entry>();
  /** Ids of gone entries, oldest first. */
  readonly #gone = new Set<string>();

  constructor(opts: IdentityCacheOptions) {
    if (!(opts.retentionMs >= 0)) throw new RangeError(`retentionMs must be >= 0, got ${opts.retentionMs}`);
    if (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${opts.maxEntries}`);
    }
    this.#opts = opts;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Store (or replace) the identity of a live container. */
  set(id: string, identity: ContainerIdentity): void {
    this.#entries.delete(id);
    this.#gone.delete(id);
    this.#entries.set(id, { identity, goneAt: null });
    this.#evict();
  }

  /** The identity, live or still retained after its cgroup went away; undefined when unknown or expired. */
  get(id: string): ContainerIdentity | undefined {
    this.sweep();
    return this.#entries.get(id)?.identity;
  }

  /** The container's cgroup is gone: keep the identity for `retentionMs` from now. */
  gone(id: string): void {
    const e = this.#entries.get(id);
    if (e === undefined || e.goneAt !== null) return;
    e.goneAt = this.#opts.now();
    this.#gone.add(id);
  }

  /** Drop the identities retained longer than `retentionMs`. */
  sweep(): void {
    const now = this.#opts.now();
    for (const id of this.#gone) {
      const e = this.#entries.get(id);
      if (e === undefined || e.goneAt === null) {
        this.#gone.delete(id);
        continue;
      }
      // Gone entries are in the order they went, so the first one still retained ends the sweep.
      if (now - e.goneAt < this.#opts.retentionMs) break;
      this.#gone.delete(id);
      this.#entries.delete(id);
    }
  }

  #evict(): void {
    this.sweep();
    while (this.#entries.size > this.#opts.maxEntries) {
      const victim = this.#gone.values().next();
      const id = victim.done === true ? (this.#entries.keys().next().value as string) : victim.value;
      this.#gone.delete(id);
      this.#entries.delete(id);
    }
  }
}

/**
 * Malformed metadata files, each logged once: `note` says whether this file is new. Bounded like
 * the cache; `total` counts every malformed read for a metric.
 */
export class MalformedFiles {
  readonly #seen = new Set<string>();
  readonly #max: number;
  total = 0;

  constructor(maxFiles: number) {
    this.#max = maxFiles;
  }

  /** Count a malformed read of `file`; true the first time this file is seen (log it then). */
  note(file: string): boolean {
    this.total++;
    if (this.#seen.has(file)) return false;
    if (this.#seen.size >= this.#max) {
      const oldest = this.#seen.values().next();
      if (oldest.done !== true) this.#seen.delete(oldest.value);
    }
    this.#seen.add(file);
    return true;
  }
}
