/**
 * A cgroup owner's name for people (pure): who the path says owns the cgroup (oom/owner.ts) with
 * what the runtime's files say about the container (identity.ts).
 */
import type { CgroupOwner, ContainerRuntime } from '../oom/owner.js';
import type { ContainerIdentity } from './identity.js';

/** The owner and the container's names together; every field null when unknown. */
export interface OwnerNames {
  readonly unit: string | null;
  readonly runtime: ContainerRuntime | null;
  readonly container_id: string | null;
  readonly pod_uid: string | null;
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly container: string | null;
  readonly image: string | null;
  readonly container_name: string | null;
}

export function ownerNames(owner: CgroupOwner, identity: ContainerIdentity | null | undefined): OwnerNames {
  return {
    unit: owner.unit,
    runtime: owner.runtime ?? identity?.runtime ?? null,
    container_id: owner.container_id,
    pod_uid: owner.pod_uid ?? identity?.pod_uid ?? null,
    namespace: identity?.namespace ?? null,
    pod: identity?.pod ?? null,
    container: owner.container_id === null ? null : (identity?.container ?? null),
    image: owner.container_id === null ? null : (identity?.image ?? null),
    container_name: owner.container_id === null ? null : (identity?.container_name ?? null),
  };
}

/**
 * One short name: `shop/web-0/app` (namespace/pod/container), `docker web` (the runtime's own
 * name), `containerd 3f9c1d0e8b7a` (an id without a name), `pod <uid>`, the systemd unit; null
 * when the cgroup has no known owner.
 */
export function ownerLabel(n: OwnerNames): string | null {
  if (n.pod !== null) return [n.namespace ?? '?', n.pod, ...(n.container === null ? [] : [n.container])].join('/');
  const runtime = n.runtime ?? 'container';
  if (n.container_name !== null) return `${runtime} ${n.container_name}`;
  if (n.container_id !== null) return `${runtime} ${n.container_id.slice(0, 12)}`;
  if (n.pod_uid !== null) return `pod ${n.pod_uid}`;
  return n.unit;
}
