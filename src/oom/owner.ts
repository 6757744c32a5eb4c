/**
 * Who owns a cgroup, read from its path alone (pure): the systemd unit, the container runtime and
 * container id, the Kubernetes pod UID and QoS class. The layouts are those the tools create:
 * systemd (man 5 systemd.slice: `a-b.slice` nests under `a.slice`), kubelet's cgroup drivers
 * (pkg/kubelet/cm/cgroup_manager_linux.go: `kubepods[-qos]-pod<uid with _>.slice` for the systemd
 * driver, `kubepods[/qos]/pod<uid>` for cgroupfs), and the runtimes' scope names
 * (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`) or
 * cgroupfs directories (`/docker/<id>`, a bare 64-hex id under a pod). The innermost match wins,
 * so a node inside LXC or another container (kind) resolves to the inner workload.
 */

export type ContainerRuntime = 'docker' | 'containerd' | 'crio' | 'podman';
export type PodQos = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupOwner {
  /** Innermost systemd unit (`*.service` or `*.scope`). */
  readonly unit: string | null;
  /** Null when the path names a container id but not which runtime made it (cgroupfs under a pod). */
  readonly runtime: ContainerRuntime | null;
  readonly container_id: string | null;
  /** Canonical, with dashes (the systemd driver writes `_`). */
  readonly pod_uid: string | null;
  readonly pod_qos: PodQos | null;
}

export const NO_OWNER: CgroupOwner = Object.freeze({
  unit: null,
  runtime: null,
  container_id: null,
  pod_uid: null,
  pod_qos: null,
});

const SCOPE_RUNTIMES: ReadonlyArray<readonly [string, ContainerRuntime]> = [
  ['docker-', 'docker'],
  ['cri-containerd-', 'containerd'],
  ['crio-', 'crio'],
  ['libpod-', 'podman'],
];

const HEX_ID = /^[0-9a-f]{12,64}$/;
const FULL_HEX_ID = /^[0-9a-f]{64}$/;
const UID = /^[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}$/i;
// The systemd driver's pod slice: kubepods-pod<uid>.slice (Guaranteed) or kubepods-<qos>-pod<uid>.slice.
const SYSTEMD_POD = /^kubepods(?:-(burstable|besteffort))?-pod([0-9a-fA-F_-]{36})\.slice$/;
// The cgroupfs form a runtime may leave when it gets a systemd-style path: `<slice>:<prefix>:<id>`.
const COLON_FORM = /^[^:]+\.slice:(docker|cri-containerd|crio|libpod):([0-9a-f]{12,64})$/;

function canonicalUid(raw: string): string | null {
  return UID.test(raw) ? raw.replace(/_/g, '-').toLowerCase() : null;
}

/** A container in one path component, or undefined. `conmon` scopes are the runtime's monitor, not the container. */
function containerIn(
  name: string,
  parent: string | undefined,
  underPod: boolean,
): { runtime: ContainerRuntime | null; id: string } | undefined {
  if (name.endsWith('.scope')) {
    const stem = name.slice(0, -6);
    for (const [prefix, runtime] of SCOPE_RUNTIMES) {
      if (!stem.startsWith(prefix)) continue;
      const id = stem.slice(prefix.length);
      if (HEX_ID.test(id)) return { runtime, id };
    }
    return undefined;
  }
  const colon = COLON_FORM.exec(name);
  if (colon !== null) {
    const prefix = `${colon[1] as string}-`;
    const runtime = SCOPE_RUNTIMES.find(([p]) => p === prefix)?.[1] ?? null;
    return { runtime, id: colon[2] as string };
  }
  // cgroupfs forms: /docker/<id>, /libpod_parent/libpod-<id>, crio-<id> under a pod, a bare id under a pod.
  if (parent === 'docker' && FULL_HEX_ID.test(name)) return { runtime: 'docker', id: name };
  if (name.startsWith('libpod-') && HEX_ID.test(name.slice(7))) return { runtime: 'podman', id: name.slice(7) };
  if (underPod && name.startsWith('crio-') && HEX_ID.test(name.slice(5))) return { runtime: 'crio', id: name.slice(5) };
  if (underPod && FULL_HEX_ID.test(name)) return { runtime: null, id: name };
  return undefined;
}

/** A pod in one path component, with its QoS class, or undefined. */
function podIn(name: string, parent: string | undefined): { uid: string; qos: PodQos } | undefined {
  // `<pod slice>:<prefix>:<id>` (COLON_FORM) names the pod before its first colon.
  const colon = name.indexOf(':');
  const sd = SYSTEMD_POD.exec(colon < 0 ? name : name.slice(0, colon));
  if (sd !== null) {
    const uid = canonicalUid(sd[2] as string);
    if (uid === null) return undefined;
    return { uid, qos: (sd[1] as PodQos | undefined) ?? 'guaranteed' };
  }
  if (!name.startsWith('pod')) return undefined;
  const uid = canonicalUid(name.slice(3));
  if (uid === null) return undefined;
  // cgroupfs: kubepods/pod<uid> is Guaranteed, kubepods/<qos>/pod<uid> the others.
  if (parent === 'burstable' || parent === 'besteffort') return { uid, qos: parent };
  if (parent === 'kubepods') return { uid, qos: 'guaranteed' };
  return undefined;
}

/**
 * Resolve the owner of a cgroup path as the kernel prints it (`/kubepods.slice/...`). Pure; a path
 * that names nothing known gives all nulls. The unit is the innermost `*.service`/`*.scope`; the
 * container is the innermost container component; the pod is the innermost pod (a container
 * further out than that pod belongs to an outer layer, such as the node's own container, and is dropped).
 */
export function resolveOwner(path: string | null): CgroupOwner {
  if (path === null || path === '' || path === '/') return NO_OWNER;
  const known = resolved.get(path);
  if (known !== undefined) return known;
  const owner = Object.freeze(resolveParts(path));
  if (resolved.size >= RESOLVED_MAX) resolved.clear();
  resolved.set(path, owner);
  return owner;
}

/**
 * Paths resolved lately, and who owns them (frozen: every caller shares them, as it shares
 * NO_OWNER). A kill's path is resolved several times on its way to the log line (the event, which
 * limit fired and its prefixes, the kill series) and kills come again in the same cgroups; a path
 * met for the first time is resolved in full. Emptied when full.
 */
const resolved = new Map<string, CgroupOwner>();
const RESOLVED_MAX = 1024;

function resolveParts(path: string): CgroupOwner {
  const parts = path.split('/').filter((p) => p !== '');
  let unit: string | null = null;
  let container: { runtime: ContainerRuntime | null; id: string } | undefined;
  let containerAt = -1;
  let pod: { uid: string; qos: PodQos } | undefined;
  let podAt = -1;
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i] as string;
    const parent = parts[i - 1];
    if (name.endsWith('.service') || name.endsWith('.scope')) unit = name;
    const p = podIn(name, parent);
    if (p !== undefined) {
      pod = p;
      podAt = i;
      // A new pod further in (a node inside a container) discards an outer container.
      if (containerAt < podAt) {
        container = undefined;
        containerAt = -1;
      }
    }
    const c = containerIn(name, parent, podAt >= 0 && podAt === i - 1);
    if (c !== undefined) {
      container = c;
      containerAt = i;
    }
  }
  return {
    unit,
    runtime: container?.runtime ?? null,
    container_id: container?.id ?? null,
    pod_uid: pod?.uid ?? null,
    pod_qos: pod?.qos ?? null,
  };
}
