/**
 * Docker's per-container state file, `<docker root>/containers/<id>/config.v2.json` (moby
 * `container/container.go`: `configFileName = "config.v2.json"`, written by `CheckpointTo` on every
 * state change). The fields read here: `Name` (`/<name>`), `Config.Image` (the reference the
 * container was created from), `Config.Labels` and `State.{Running,Pid}` (`container/state.go`).
 * Under Kubernetes with cri-dockerd the labels carry the pod's identity (`io.kubernetes.pod.name`,
 * `io.kubernetes.pod.namespace`, `io.kubernetes.pod.uid`, `io.kubernetes.container.name`).
 */
import { ParseError } from '../errors.js';
import {
  type ContainerIdentity,
  KUBE_CONTAINER_NAME,
  KUBE_POD_NAME,
  KUBE_POD_NAMESPACE,
  KUBE_POD_UID,
  canonicalPodUid,
  nonEmpty,
  objectField,
  parseJsonObject,
  stringField,
  stringMapField,
} from './identity.js';

export const DOCKER_CONFIG_FILE = 'config.v2.json';

/** Parse config.v2.json. `file` names the file in errors. Throws ParseError on malformed input. */
export function parseDockerConfigV2(text: string, file: string): ContainerIdentity {
  const root = parseJsonObject(text, file);
  const config = objectField(root, 'Config', file);
  const labels = config === null ? new Map<string, string>() : stringMapField(config, 'Labels', file);
  const name = nonEmpty(stringField(root, 'Name', file));
  return {
    runtime: 'docker',
    namespace: nonEmpty(labels.get(KUBE_POD_NAMESPACE)),
    pod: nonEmpty(labels.get(KUBE_POD_NAME)),
    pod_uid: canonicalPodUid(nonEmpty(labels.get(KUBE_POD_UID))),
    container: nonEmpty(labels.get(KUBE_CONTAINER_NAME)),
    image: config === null ? null : nonEmpty(stringField(config, 'Image', file)),
    // The daemon stores the name with the leading slash of its old link namespace.
    container_name: name === null ? null : nonEmpty(name.replace(/^\//, '')),
    init_pid: statePid(objectField(root, 'State', file), file),
  };
}

/** `State.Pid` while `State.Running`; a stopped container keeps Pid 0. */
function statePid(state: Record<string, unknown> | null, file: string): number | null {
  if (state === null) return null;
  const running = state['Running'];
  const pid = state['Pid'];
  if (running !== undefined && typeof running !== 'boolean') {
    throw new ParseError(file, `"State.Running" must be a boolean, found ${JSON.stringify(running)}`);
  }
  if (pid === undefined || pid === null) return null;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 0) {
    throw new ParseError(file, `"State.Pid" must be a non-negative integer, found ${JSON.stringify(pid)}`);
  }
  return running === true && pid > 0 ? pid : null;
}
