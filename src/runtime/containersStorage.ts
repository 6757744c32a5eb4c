/**
 * containers/storage, shared by CRI-O and Podman. Under the graph root (`/var/lib/containers/storage`)
 * `<driver>-containers/containers.json` lists every container (containers/storage `containers.go`:
 * `id`, `names`, `image`, and `metadata`, a JSON string the tool owns), and
 * `<driver>-containers/<id>/userdata/config.json` is the container's OCI runtime spec. CRI-O writes
 * that spec with the pod's identity in annotations (cri-o `server/container_create_linux.go`
 * `SaveToFile(filepath.Join(containerInfo.Dir, "config.json"))`; keys in `pkg/annotations` and kubelet's
 * `pkg/kubelet/types/labels.go`). Podman keeps its own name and image out of the spec: they are in
 * containers.json, whose `metadata` holds podman's `RuntimeContainerMetadata` (`libpod/storage.go`:
 * `image-name`, `name`). Under the run root (`/run/containers/storage`) `<driver>-containers/<id>/userdata/`
 * is the container's bundle, and its `pidfile` the init pid runc wrote for conmon (cri-o
 * `internal/oci/runtime_oci.go`: conmon `-p <bundle>/pidfile`; podman does the same).
 */
import { ParseError } from '../errors.js';
import {
  type ContainerIdentity,
  KUBE_CONTAINER_NAME,
  KUBE_POD_NAME,
  KUBE_POD_NAMESPACE,
  KUBE_POD_UID,
  canonicalPodUid,
  isObject,
  nonEmpty,
  parseJsonObject,
  stringField,
  stringMapField,
} from './identity.js';

export const CONTAINERS_JSON = 'containers.json';
export const USERDATA_CONFIG = 'config.json';
export const USERDATA_PIDFILE = 'pidfile';

/** The annotation podman sets on every container it creates (`io.container.manager=libpod`). */
export const CONTAINER_MANAGER = 'io.container.manager';
export const CRIO_IMAGE_NAME = 'io.kubernetes.cri-o.ImageName';
/** CRI-O's own container name, `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`. */
export const CRIO_NAME = 'io.kubernetes.cri-o.Name';

/** The directory that holds one storage driver's containers: `overlay` → `overlay-containers`. */
export function containersDir(driver: string): string {
  return `${driver}-containers`;
}

/**
 * Parse a container's userdata/config.json. The runtime is podman when the spec carries
 * `io.container.manager=libpod`, otherwise CRI-O. Throws ParseError on malformed input.
 */
export function parseContainersStorageConfig(text: string, file: string): ContainerIdentity {
  const annotations = stringMapField(parseJsonObject(text, file), 'annotations', file);
  return {
    runtime: annotations.get(CONTAINER_MANAGER) === 'libpod' ? 'podman' : 'crio',
    namespace: nonEmpty(annotations.get(KUBE_POD_NAMESPACE)),
    pod: nonEmpty(annotations.get(KUBE_POD_NAME)),
    pod_uid: canonicalPodUid(nonEmpty(annotations.get(KUBE_POD_UID))),
    container: nonEmpty(annotations.get(KUBE_CONTAINER_NAME)),
    image: nonEmpty(annotations.get(CRIO_IMAGE_NAME)),
    container_name: nonEmpty(annotations.get(CRIO_NAME)),
    init_pid: null,
  };
}

/** One containers.json entry: the names storage keeps and what the tool's metadata says. */
export interface StorageContainer {
  readonly id: string;
  readonly names: readonly string[];
  /** `metadata.image-name` (podman, CRI-O): the reference the container was created from. */
  readonly image_name: string | null;
  /** `metadata.name`: the tool's name for the container. */
  readonly name: string | null;
}

/** Parse containers.json into entries by id. Throws ParseError on malformed input. */
export function parseContainersJson(text: string, file: string): ReadonlyMap<string, StorageContainer> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ParseError(file, `not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(value)) throw new ParseError(file, 'expected a JSON array of containers');
  const out = new Map<string, StorageContainer>();
  value.forEach((entry: unknown, i) => {
    if (!isObject(entry)) throw new ParseError(file, `entry ${i} is not an object`);
    const id = stringField(entry, 'id', file);
    if (id === null || id === '') throw new ParseError(file, `entry ${i} has no "id"`);
    const names = entry['names'] ?? [];
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new ParseError(file, `entry ${id}: "names" must be an array of strings`);
    }
    const meta = metadataOf(stringField(entry, 'metadata', file), file, id);
    out.set(id, {
      id,
      names: names as string[],
      image_name: meta === null ? null : nonEmpty(stringField(meta, 'image-name', file)),
      name: meta === null ? null : nonEmpty(stringField(meta, 'name', file)),
    });
  });
  return out;
}

/** `metadata` is free text to storage; a tool that writes something other than a JSON object gives null. */
function metadataOf(raw: string | null, file: string, id: string): Record<string, unknown> | null {
  if (raw === null || raw === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new ParseError(file, `entry ${id}: "metadata" is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return isObject(v) ? v : null;
}

/** Fill what the spec lacks from the storage entry: podman's name and image live only there. */
export function withStorageEntry(identity: ContainerIdentity, entry: StorageContainer | undefined): ContainerIdentity {
  if (entry === undefined) return identity;
  return {
    ...identity,
    image: identity.image ?? entry.image_name,
    container_name: identity.container_name ?? entry.name ?? nonEmpty(entry.names[0]),
  };
}
