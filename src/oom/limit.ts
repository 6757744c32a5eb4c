/**
 * Which limit the kernel enforced for a kill, from the report alone (pure): the OOM cgroup the
 * summary line names (`oom_memcg=`, the cgroup whose limit was hit) against the victim's cgroup
 * (`task_memcg=`) and who owns them (owner.ts). The OOM cgroup is the victim's or one of its
 * ancestors: mem_cgroup_oom() runs for the cgroup whose charge failed, which is the victim's own
 * or the first ancestor over its limit (mm/memcontrol.c try_charge_memcg).
 */
import { resolveOwner } from './owner.js';

/**
 * - `container`: the container's own limit (`docker run --memory`, a pod spec's `limits.memory`)
 * - `pod`: the pod's cgroup (the sum of its containers' limits, or a pod-level limit)
 * - `node`: kubelet's `kubepods` cgroup, the node allocatable
 * - `ancestor`: any other cgroup above the victim's (a slice, a QoS class cgroup)
 * - `own`: the victim's own cgroup, outside any container
 * - `none`: no cgroup limit: the system ran out of memory
 */
export type LimitFired = 'container' | 'pod' | 'node' | 'ancestor' | 'own' | 'none';

export const LIMITS_FIRED: readonly LimitFired[] = ['container', 'pod', 'node', 'ancestor', 'own', 'none'];

export interface LimitInput {
  /** `cgroup` or `system`; null when the report did not say. */
  readonly scope: 'cgroup' | 'system' | null;
  readonly oom_cgroup: string | null;
  readonly victim_cgroup: string | null;
}

const trim = (p: string): string => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p);

/** kubelet's node allocatable cgroup: `kubepods` (cgroupfs driver) or `kubepods.slice` (systemd). */
function isKubepods(path: string): boolean {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last === 'kubepods' || last === 'kubepods.slice';
}

/** Which limit fired; null when the report does not tell (no `oom_memcg`, or no victim cgroup). */
export function limitFired(e: LimitInput): LimitFired | null {
  if (e.scope === 'system') return 'none';
  if (e.oom_cgroup === null || e.victim_cgroup === null) return null;
  const oom = trim(e.oom_cgroup);
  const victim = trim(e.victim_cgroup);
  const owner = resolveOwner(victim);
  const at = resolveOwner(oom);
  if (owner.container_id !== null && at.container_id === owner.container_id) return 'container';
  if (owner.pod_uid !== null && at.pod_uid === owner.pod_uid && at.container_id === null) return 'pod';
  if (oom === victim) return 'own';
  if (isKubepods(oom)) return 'node';
  return 'ancestor';
}
