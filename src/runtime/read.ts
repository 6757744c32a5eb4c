/**
 * The edge: given the owner resolved from a cgroup path, read who the container is from the runtime's
 * own files (no runtime API, no API server). Synchronous and cheap: one to three small files per
 * container, read once when its cgroup appears. A runtime that is not installed, or a container
 * whose files are already gone, gives a null identity and no error; a file that is there but
 * malformed or unreadable gives an error value beside whatever the other files said. Never throws
 * for the host's files.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, isErrno } from '../errors.js';
import type { CgroupOwner, ContainerRuntime } from '../oom/owner.js';
import { DOCKER_CONFIG_FILE, parseDockerConfigV2 } from './dockerConfigV2.js';
import {
  CONTAINERS_JSON,
  USERDATA_CONFIG,
  USERDATA_PIDFILE,
  containersDir,
  parseContainersJson,
  parseContainersStorageConfig,
  withStorageEntry,
} from './containersStorage.js';
import { type ContainerIdentity, emptyIdentity, parsePidFile } from './identity.js';
import { BUNDLE_CONFIG_FILE, INIT_PID_FILE, TASK_DIR, parseOciBundleConfig } from './ociBundle.js';
import { parsePodLogsDirName } from './podLogs.js';
import { DEFAULT_CONTAINERD_NAMESPACES, DEFAULT_STORAGE_DRIVERS, type RuntimeRoots } from './roots.js';

export interface IdentityRead {
  /** What the files say; null when no file names this container. */
  readonly identity: ContainerIdentity | null;
  /** The files the identity was read from, in the order read. */
  readonly sources: readonly string[];
  /** A file that was there but malformed (ParseError, EPARSE) or unreadable (EIO); null otherwise. */
  readonly error: OomwatchError | null;
  /** The file `error` is about (for logging each bad file once). */
  readonly errorFile: string | null;
}

export interface ReadIdentityOptions {
  readonly containerdNamespaces?: readonly string[];
  readonly storageDrivers?: readonly string[];
}

const NOTHING: IdentityRead = Object.freeze({ identity: null, sources: Object.freeze([]), error: null, errorFile: null });

/**
 * Read a container's identity. The owner's runtime picks the files; an owner whose path names a
 * container id but not its runtime (kubelet's cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>`)
 * is looked up in containerd's, containers/storage's and docker's files in that order. When the pod
 * UID is known and the runtime's files did not name the pod, kubelet's /var/log/pods does.
 */
export function readIdentity(owner: CgroupOwner, roots: RuntimeRoots, options: ReadIdentityOptions = {}): IdentityRead {
  const id = owner.container_id;
  if (id === null) return NOTHING;
  const namespaces = options.containerdNamespaces ?? DEFAULT_CONTAINERD_NAMESPACES;
  const drivers = options.storageDrivers ?? DEFAULT_STORAGE_DRIVERS;
  const order: readonly ContainerRuntime[] = owner.runtime === null ? ['containerd', 'crio', 'docker'] : [owner.runtime];
  let found: Found | null = null;
  for (const runtime of order) {
    found = readRuntime(runtime, id, roots, namespaces, drivers);
    if (found !== null) break;
  }
  const sources = [...(found?.sources ?? [])];
  let identity = found?.identity ?? null;
  const error = found?.error ?? null;
  const errorFile = found?.errorFile ?? null;
  if (owner.pod_uid !== null && (identity === null || identity.pod === null || identity.namespace === null)) {
    const logs = readPodLogs(roots.podLogs, owner.pod_uid);
    if (logs !== null) {
      const base = identity ?? emptyIdentity(owner.runtime);
      identity = {
        ...base,
        namespace: base.namespace ?? logs.namespace,
        pod: base.pod ?? logs.pod,
        container: base.container ?? logs.container,
      };
      sources.push(logs.dir);
    }
  }
  if (identity !== null && identity.pod_uid === null && owner.pod_uid !== null) {
    identity = { ...identity, pod_uid: owner.pod_uid };
  }
  return { identity, sources, error, errorFile };
}

interface Found {
  identity: ContainerIdentity | null;
  sources: string[];
  error: OomwatchError | null;
  errorFile: string | null;
}

function readRuntime(
  runtime: ContainerRuntime,
  id: string,
  roots: RuntimeRoots,
  namespaces: readonly string[],
  drivers: readonly string[],
): Found | null {
  switch (runtime) {
    case 'docker':
      return readDocker(id, roots);
    case 'containerd':
      return readContainerd(id, roots, namespaces);
    case 'crio':
    case 'podman':
      return readContainersStorage(id, roots, drivers);
    default:
      return runtime satisfies never;
  }
}

/**
 * config.v2.json, and when it has no running pid yet (dockerd writes `State.Pid` only after runc
 * has started the container, later than the cgroup appears) the init.pid of docker's containerd task
 * in namespace `moby`: under the system containerd or dockerd's embedded one.
 */
function readDocker(id: string, roots: RuntimeRoots): Found | null {
  const file = join(roots.docker, 'containers', id, DOCKER_CONFIG_FILE);
  const first = readFirst(file, parseDockerConfigV2);
  if (first === null || first.identity === null || first.identity.init_pid !== null) return first;
  const bundles = [
    join(roots.containerdState, TASK_DIR, 'moby', id),
    join(roots.dockerExec, 'containerd', 'daemon', TASK_DIR, 'moby', id),
  ];
  for (const dir of bundles) {
    const withPid = addPid(first, join(dir, INIT_PID_FILE));
    if (withPid !== first) return withPid;
  }
  return first;
}

function readContainerd(id: string, roots: RuntimeRoots, namespaces: readonly string[]): Found | null {
  for (const ns of namespaces) {
    const dir = join(roots.containerdState, TASK_DIR, ns, id);
    const first = readFirst(join(dir, BUNDLE_CONFIG_FILE), parseOciBundleConfig);
    if (first !== null) return addPid(first, join(dir, INIT_PID_FILE));
  }
  return null;
}

function readContainersStorage(id: string, roots: RuntimeRoots, drivers: readonly string[]): Found | null {
  for (const driver of drivers) {
    const dir = containersDir(driver);
    let found = readFirst(join(roots.containersStorage, dir, id, 'userdata', USERDATA_CONFIG), parseContainersStorageConfig);
    if (found === null) continue;
    if (found.identity?.runtime === 'podman') {
      const list = join(roots.containersStorage, dir, CONTAINERS_JSON);
      found = addFrom(found, list, (text, identity) => withStorageEntry(identity, parseContainersJson(text, list).get(id)));
    }
    return addPid(found, join(roots.containersRunRoot, dir, id, 'userdata', USERDATA_PIDFILE));
  }
  return null;
}

/** The file that decides whether a runtime knows the container: null when it is not there. */
function readFirst(file: string, parse: (text: string, file: string) => ContainerIdentity): Found | null {
  try {
    const text = readOptional(file);
    if (text === null) return null;
    return { identity: parse(text, file), sources: [file], error: null, errorFile: null };
  } catch (err) {
    if (err instanceof OomwatchError) return { identity: null, sources: [file], error: err, errorFile: file };
    throw err;
  }
}

/**
 * Refine an identity from one more file. A missing file leaves it as it is (the same object); a
 * malformed or unreadable one keeps what is known and records the error, unless one is recorded.
 */
function addFrom(found: Found, file: string, refine: (text: string, identity: ContainerIdentity) => ContainerIdentity): Found {
  const identity = found.identity;
  if (identity === null) return found;
  try {
    const text = readOptional(file);
    if (text === null) return found;
    return { ...found, identity: refine(text, identity), sources: [...found.sources, file] };
  } catch (err) {
    if (!(err instanceof OomwatchError)) throw err;
    const first = found.error === null;
    return {
      identity,
      sources: [...found.sources, file],
      error: first ? err : found.error,
      errorFile: first ? file : found.errorFile,
    };
  }
}

function addPid(found: Found, file: string): Found {
  return addFrom(found, file, (text, identity) => ({ ...identity, init_pid: parsePidFile(text, file) }));
}

/** The pod's /var/log/pods directory, and its container when it holds exactly one. */
function readPodLogs(
  root: string,
  podUid: string,
): { dir: string; namespace: string | null; pod: string | null; container: string | null } | null {
  const names = listOptional(root);
  if (names === null) return null;
  for (const name of names) {
    const parsed = parsePodLogsDirName(name);
    if (parsed === null || parsed.pod_uid !== podUid) continue;
    const dir = join(root, name);
    const containers = listOptional(dir, true);
    const only = containers !== null && containers.length === 1 ? (containers[0] as string) : null;
    return { dir, namespace: parsed.namespace, pod: parsed.pod, container: only };
  }
  return null;
}

/** A whole file, or null when it (or a directory above it) does not exist. */
function readOptional(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw new OomwatchError('EIO', `${file}: ${(err as Error).message}; oomwatch needs read access to the runtime's files (run as root, or mount the directory)`, { cause: err });
  }
}

/** Entry names of a directory (only subdirectories when `dirsOnly`), or null when it is absent or unreadable. */
function listOptional(dir: string, dirsOnly = false): string[] | null {
  try {
    const entries = readdirSync(dir, { withFileTypes: true });
    return entries.filter((e) => !dirsOnly || e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (isErrno(err)) return null;
    throw err;
  }
}
