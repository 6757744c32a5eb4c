/**
 * kubelet's pod log directories, `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`
 * (kubernetes `pkg/kubelet/kuberuntime/helpers.go`: `BuildPodLogsDirectory` joins namespace, name
 * and UID with `logPathDelimiter = "_"`; `BuildContainerLogsDirectory` adds the container name).
 * Namespaces and pod names are DNS names and a UID is hex and dashes, so none holds `_`; older kubelets
 * used `/var/log/pods/<uid>`, which `parsePodUIDFromLogsDirectory` still accepts, and so does this.
 * Every runtime under kubelet writes here, so it names the pod when the runtime's own files are gone.
 */
import { canonicalPodUid } from './identity.js';

export interface PodLogsDir {
  readonly namespace: string | null;
  readonly pod: string | null;
  readonly pod_uid: string;
}

/** Parse one directory name under /var/log/pods; null when it is not kubelet's. Pure. */
export function parsePodLogsDirName(name: string): PodLogsDir | null {
  const parts = name.split('_');
  if (parts.length === 1) {
    const uid = canonicalPodUid(name);
    return uid === null || uid !== name ? null : { namespace: null, pod: null, pod_uid: uid };
  }
  if (parts.length !== 3) return null;
  const [namespace, pod, rawUid] = parts as [string, string, string];
  const uid = canonicalPodUid(rawUid);
  if (namespace === '' || pod === '' || uid === null || uid !== rawUid) return null;
  return { namespace, pod, pod_uid: uid };
}
