/**
 * Where the container runtimes keep their files on the host. Every path is injected so a
 * DaemonSet that mounts the host at /host (`runtimeRootsUnder('/host')`) and a test that points at a
 * fixture tree read the same code. A runtime that is not installed simply has no files there.
 */
import { join } from 'node:path';

export interface RuntimeRoots {
  /** dockerd `--data-root`: holds `containers/<id>/config.v2.json`. */
  readonly docker: string;
  /** dockerd `--exec-root`: its embedded containerd keeps task bundles under `containerd/daemon`. */
  readonly dockerExec: string;
  /** containerd `state`: holds `io.containerd.runtime.v2.task/<namespace>/<id>/`. */
  readonly containerdState: string;
  /** containers/storage `graphroot` (CRI-O, Podman): holds `<driver>-containers/`. */
  readonly containersStorage: string;
  /** containers/storage `runroot`: holds `<driver>-containers/<id>/userdata/pidfile`. */
  readonly containersRunRoot: string;
  /** kubelet's pod log directory. */
  readonly podLogs: string;
}

export const DEFAULT_RUNTIME_ROOTS: RuntimeRoots = Object.freeze({
  docker: '/var/lib/docker',
  dockerExec: '/run/docker',
  containerdState: '/run/containerd',
  containersStorage: '/var/lib/containers/storage',
  containersRunRoot: '/run/containers/storage',
  podLogs: '/var/log/pods',
});

/** The default roots as seen from a container that mounts the host's / at `prefix`. */
export function runtimeRootsUnder(prefix: string): RuntimeRoots {
  return {
    docker: join(prefix, DEFAULT_RUNTIME_ROOTS.docker),
    dockerExec: join(prefix, DEFAULT_RUNTIME_ROOTS.dockerExec),
    containerdState: join(prefix, DEFAULT_RUNTIME_ROOTS.containerdState),
    containersStorage: join(prefix, DEFAULT_RUNTIME_ROOTS.containersStorage),
    containersRunRoot: join(prefix, DEFAULT_RUNTIME_ROOTS.containersRunRoot),
    podLogs: join(prefix, DEFAULT_RUNTIME_ROOTS.podLogs),
  };
}

/**
 * containerd namespaces whose bundles are searched: `k8s.io` (the CRI plugin), `moby` (dockerd),
 * `default` (ctr, nerdctl).
 */
export const DEFAULT_CONTAINERD_NAMESPACES: readonly string[] = Object.freeze(['k8s.io', 'moby', 'default']);

/** containers/storage drivers whose `<driver>-containers` directories are searched. */
export const DEFAULT_STORAGE_DRIVERS: readonly string[] = Object.freeze(['overlay', 'vfs']);
