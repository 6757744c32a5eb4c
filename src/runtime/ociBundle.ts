/**
 * containerd's task bundle: `<state>/io.containerd.runtime.v2.task/<namespace>/<id>/` (containerd
 * `runtime/v2/bundle.go` `NewBundle`, `core/runtime/v2/bundle.go` in 2.x; the state root is
 * `/run/containerd` by default). It holds the OCI runtime spec `config.json` and `init.pid`, which
 * runc writes through the shim's `--pid-file` (`cmd/containerd-shim-runc-v2/process/init.go`,
 * `InitPidFile = "init.pid"`) as soon as the container's init process exists. The shim deletes the
 * bundle when the task is deleted, right after the container exits: read it when the cgroup appears.
 *
 * Under Kubernetes the CRI plugin (namespace `k8s.io`) writes the pod's identity as OCI annotations
 * (`pkg/cri/annotations/annotations.go`, `internal/cri/annotations` in 2.x).
 */
import { type ContainerIdentity, canonicalPodUid, nonEmpty, parseJsonObject, stringMapField } from './identity.js';

export const TASK_DIR = 'io.containerd.runtime.v2.task';
export const BUNDLE_CONFIG_FILE = 'config.json';
export const INIT_PID_FILE = 'init.pid';

export const CRI_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
export const CRI_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
export const CRI_SANDBOX_UID = 'io.kubernetes.cri.sandbox-uid';
export const CRI_CONTAINER_NAME = 'io.kubernetes.cri.container-name';
export const CRI_IMAGE_NAME = 'io.kubernetes.cri.image-name';

/**
 * Parse a bundle's config.json (an OCI runtime spec) for the CRI plugin's annotations. containerd
 * has no container name of its own besides the id, so `container_name` is null; `init_pid` is null
 * here and comes from init.pid. Throws ParseError on malformed input.
 */
export function parseOciBundleConfig(text: string, file: string): ContainerIdentity {
  const annotations = stringMapField(parseJsonObject(text, file), 'annotations', file);
  return {
    runtime: 'containerd',
    namespace: nonEmpty(annotations.get(CRI_SANDBOX_NAMESPACE)),
    pod: nonEmpty(annotations.get(CRI_SANDBOX_NAME)),
    pod_uid: canonicalPodUid(nonEmpty(annotations.get(CRI_SANDBOX_UID))),
    container: nonEmpty(annotations.get(CRI_CONTAINER_NAME)),
    image: nonEmpty(annotations.get(CRI_IMAGE_NAME)),
    container_name: null,
    init_pid: null,
  };
}
