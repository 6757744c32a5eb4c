/**
 * Which memory limit fired for a kill (pure): the report's OOM cgroup (`oom_memcg=` of the kernel's
 * `oom-kill:` summary, mm/oom_kill.c dump_oom_summary) is the memory cgroup whose limit was reached;
 * the victim's cgroup (`task_memcg=`) is where the killed task ran. The kernel picks the victim inside
 * the OOM cgroup's subtree (mm/memcontrol.c mem_cgroup_out_of_memory), so the OOM cgroup is the
 * victim's cgroup or one of its ancestors, and which one tells whose limit it was:
 *
 * - `container`: the container's own cgroup (a container's `resources.limits.memory`, `docker run
 *   --memory`), or a cgroup the container made inside its own;
 * - `pod`: the pod's cgroup, or a cgroup in the pod that is no container's (CRI-O's conmon). kubelet
 *   limits the pod cgroup to the sum of its containers' limits when every container has one; with an
 *   unlimited container, or a pod overhead, the pod's limit can fire before any container's;
 * - `node`: `kubepods` (`kubepods.slice`) or a QoS cgroup under it (`burstable`, `besteffort`;
 *   `kubepods-burstable.slice`, `kubepods-besteffort.slice`). kubelet limits `kubepods` to the node's
 *   allocatable memory (`--enforce-node-allocatable=pods`); it limits a QoS cgroup only with the
 *   QOSReserved feature, to allocatable minus what the classes above it request. Both are the node's
 *   budget for pods, set by kubelet and by no pod spec, so both are `node`;
 * - `own`: outside Kubernetes and outside any container, the victim's own cgroup, or the cgroup of
 *   the systemd unit (`*.service`, `*.scope`) it runs in (a unit's `MemoryMax=` bounds its subtree);
 * - `ancestor`: any other ancestor of the victim's cgroup (a slice, `/docker` above docker's
 *   containers, the cgroup of a node that itself runs in a container);
 * - `none`: no cgroup's limit fired: a system-wide OOM (`global_oom`, `CONSTRAINT_NONE`), whose
 *   report names no OOM cgroup.
 *
 * Both kubelet cgroup drivers are read the way src/oom/owner.ts reads them: cgroupfs
 * (`/kubepods/burstable/pod<uid>/<id>`) and systemd (`/kubepods.slice/kubepods-burstable.slice/
 * kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`), under whatever prefix kubelet's
 * `--cgroup-root` (or a nested node) puts them.
 */
import type { OomKillEvent } from './event.js';
import { resolveOwner, type CgroupOwner } from './owner.js';

export type LimitFired = 'container' | 'pod' | 'node' | 'ancestor' | 'own' | 'none';

/** What limitFired reads of a kill: the event's fields of the same names. */
export type LimitKill = Pick<OomKillEvent, 'scope' | 'oom_cgroup' | 'victim_cgroup'>;

/**
 * Which limit fired for a kill. Null when the report does not tell: no OOM cgroup and no system
 * scope (the summary line, or the header that says which, was not seen); or the victim's cgroup is
 * unknown (a group kill's other members) and the OOM cgroup's own path does not say whose it is
 * (an `own` and an `ancestor` limit look alike there). `owner` is who owns the victim's cgroup
 * (default: resolved from it); its container, pod and unit are located on the victim's path to
 * find their cgroups.
 */
export function limitFired(kill: LimitKill, owner: CgroupOwner = resolveOwner(kill.victim_cgroup)): LimitFired | null {
  if (kill.scope === 'system') return 'none';
  const oom = normalize(kill.oom_cgroup);
  // A memory cgroup OOM whose report named no OOM cgroup (no summary line seen): whose limit is unknown.
  if (oom === null) return null;
  const victim = normalize(kill.victim_cgroup);
  if (victim === null || !isAncestorOrSelf(oom, victim)) return fromOomPathAlone(oom);
  const parts = components(victim);
  const oomDepth = components(oom).length;
  // Depth (number of components) of the cgroups the owner names on the victim's path; -1: none.
  const containerAt = firstPrefix(parts, (o) => owner.container_id !== null && o.container_id === owner.container_id);
  const podAt = firstPrefix(parts, (o) => owner.pod_uid !== null && o.pod_uid === owner.pod_uid);
  if (containerAt >= 0 && oomDepth >= containerAt) return 'container';
  if (podAt >= 0 && oomDepth >= podAt) return 'pod';
  if (podAt >= 0) {
    // The pod's parent is `kubepods` for a Guaranteed pod, else its QoS cgroup under `kubepods`.
    const kubepodsAt = owner.pod_qos === 'guaranteed' ? podAt - 1 : podAt - 2;
    if (kubepodsAt >= 1 && oomDepth >= kubepodsAt) return 'node';
    return 'ancestor';
  }
  if (containerAt >= 0) return 'ancestor';
  // A process in `kubepods` or a QoS cgroup itself, outside any pod: the limit is still the node's.
  if (isKubepodsLevel(components(oom))) return 'node';
  if (oomDepth === parts.length) return 'own';
  const unitAt = owner.unit === null ? -1 : parts.lastIndexOf(owner.unit) + 1;
  if (unitAt > 0 && oomDepth >= unitAt) return 'own';
  return 'ancestor';
}

/** The OOM cgroup's own path, when nothing else is known: a container's, a pod's, kubepods or a QoS cgroup. */
function fromOomPathAlone(oom: string): LimitFired | null {
  const owner = resolveOwner(oom);
  if (owner.container_id !== null) return 'container';
  if (owner.pod_uid !== null) return 'pod';
  return isKubepodsLevel(components(oom)) ? 'node' : null;
}

/** `kubepods` or one of its QoS cgroups, by the last component's name (both kubelet drivers). */
function isKubepodsLevel(parts: readonly string[]): boolean {
  const last = parts[parts.length - 1];
  const parent = parts[parts.length - 2];
  if (last === 'kubepods' || last === 'kubepods.slice') return true;
  if (last === 'kubepods-burstable.slice' || last === 'kubepods-besteffort.slice') return true;
  return parent === 'kubepods' && (last === 'burstable' || last === 'besteffort');
}

/**
 * The number of components of the shortest prefix of `parts` whose owner `matches`, or -1. The
 * shortest one is the cgroup the owner's component names (the container's, the pod's): deeper
 * prefixes resolve to the same owner.
 */
function firstPrefix(parts: readonly string[], matches: (owner: CgroupOwner) => boolean): number {
  for (let n = 1; n <= parts.length; n++) {
    if (matches(resolveOwner(`/${parts.slice(0, n).join('/')}`))) return n;
  }
  return -1;
}

/** A cgroup path without a trailing slash; null for none. The root stays `/`. */
function normalize(path: string | null): string | null {
  if (path === null || path === '') return null;
  return `/${components(path).join('/')}`;
}

function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '');
}

function isAncestorOrSelf(ancestor: string, path: string): boolean {
  return ancestor === '/' || path === ancestor || path.startsWith(`${ancestor}/`);
}
