/**
 * Who a container is, as its runtime wrote it to disk: the Kubernetes pod and container names, the
 * image, the runtime's own container name and the pid of the container's init process. Every field
 * the runtime's files do not give is null. Pure: the helpers here validate already-read text.
 */
import { ParseError } from '../errors.js';
import type { ContainerRuntime } from '../oom/owner.js';

export interface ContainerIdentity {
  /** Null when only the Kubernetes fallback (/var/log/pods) named the container. */
  readonly runtime: ContainerRuntime | null;
  /** The Kubernetes namespace of the pod. */
  readonly namespace: string | null;
  /** The Kubernetes pod name. */
  readonly pod: string | null;
  /** The Kubernetes pod UID, canonical (lower case, dashes). */
  readonly pod_uid: string | null;
  /** The container's name in the pod spec (`containers[].name`). */
  readonly container: string | null;
  /** The image reference the container was started from, as the user or kubelet asked for it. */
  readonly image: string | null;
  /** The runtime's own name for the container (docker/podman `--name`, CRI-O's `k8s_…` name). */
  readonly container_name: string | null;
  /** Host pid of the container's init process, as the runtime recorded it; null when it is not running. */
  readonly init_pid: number | null;
}

/** The labels and annotations kubelet puts on every container (pkg/kubelet/types/labels.go). */
export const KUBE_POD_NAME = 'io.kubernetes.pod.name';
export const KUBE_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const KUBE_POD_UID = 'io.kubernetes.pod.uid';
export const KUBE_CONTAINER_NAME = 'io.kubernetes.container.name';

export function emptyIdentity(runtime: ContainerRuntime | null): ContainerIdentity {
  return {
    runtime,
    namespace: null,
    pod: null,
    pod_uid: null,
    container: null,
    image: null,
    container_name: null,
    init_pid: null,
  };
}

/**
 * `main_process` of a kill event: true when the killed pid is the container's init process as the
 * runtime recorded it, false for any other pid, null when the init pid is unknown. The kernel's
 * oom-kill line prints the pid in the initial pid namespace, which is the namespace the runtimes
 * write their pid files in.
 */
export function isMainProcess(identity: ContainerIdentity | null | undefined, pid: number): boolean | null {
  if (identity === null || identity === undefined || identity.init_pid === null) return null;
  return identity.init_pid === pid;
}

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A pod UID as kubelet writes it, lower-cased; anything else is null (a label is free text). */
export function canonicalPodUid(raw: string | null): string | null {
  if (raw === null) return null;
  const uid = raw.toLowerCase();
  return UID.test(uid) ? uid : null;
}

/** A JSON object, or a ParseError naming the file. */
export function parseJsonObject(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ParseError(file, `not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(value)) throw new ParseError(file, `expected a JSON object, found ${describe(value)}`);
  return value;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `obj[key]` when it is an object; absent or null gives null; any other type is a ParseError. */
export function objectField(obj: Record<string, unknown>, key: string, file: string): Record<string, unknown> | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new ParseError(file, `"${key}" must be an object, found ${describe(v)}`);
  return v;
}

/** `obj[key]` when it is a string; absent or null gives null; any other type is a ParseError. */
export function stringField(obj: Record<string, unknown>, key: string, file: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ParseError(file, `"${key}" must be a string, found ${describe(v)}`);
  return v;
}

/** A string-to-string map (labels, annotations); absent or null gives an empty map. */
export function stringMapField(obj: Record<string, unknown>, key: string, file: string): ReadonlyMap<string, string> {
  const o = objectField(obj, key, file);
  const map = new Map<string, string>();
  if (o === null) return map;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') throw new ParseError(file, `"${key}.${k}" must be a string, found ${describe(v)}`);
    map.set(k, v);
  }
  return map;
}

/** The value, or null for a missing or empty one (runtimes write "" for unset names). */
export function nonEmpty(value: string | null | undefined): string | null {
  return value === undefined || value === null || value === '' ? null : value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const s = JSON.stringify(value);
  return `${typeof value} ${s !== undefined && s.length > 40 ? `${s.slice(0, 40)}…` : s}`;
}

/**
 * A pid file as runc writes it (`--pid-file`): the decimal pid, no newline (a trailing newline is
 * accepted). Empty means the process is not there yet; anything else is a ParseError.
 */
export function parsePidFile(text: string, file: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  if (!/^[0-9]+$/.test(t)) throw new ParseError(file, `expected a pid, found ${JSON.stringify(t.slice(0, 40))}`);
  const pid = Number(t);
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new ParseError(file, `expected a positive pid, found ${t}`);
  return pid;
}
