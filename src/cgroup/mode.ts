import { readFileSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { isErrno } from '../errors.js';
import { DEFAULT_ROOTS, type Roots } from '../roots.js';
import { readMountInfo, type MountInfo } from './mountinfo.js';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** Where a cgroup hierarchy is mounted: `mount` is the path we use (rebased under --cgroup-root). */
export interface HierarchyMount {
  readonly version: 1 | 2;
  readonly mount: string;
  /** The mount point as the host's mountinfo prints it. */
  readonly hostMount: string;
  /** The cgroup this mount namespace sees as its root (mountinfo field 4; `/` on the host). */
  readonly root: string;
  /** v1: the controllers bound to the hierarchy; v2: the root's cgroup.controllers. */
  readonly controllers: readonly string[];
}

export interface CgroupLayout {
  readonly mode: CgroupMode;
  /** The hierarchy that holds the memory controller, or null when no hierarchy has it. */
  readonly memory: HierarchyMount | null;
  readonly unified: HierarchyMount | null;
  readonly v1: readonly HierarchyMount[];
}

/**
 * Mount points under the default /sys/fs/cgroup are read under roots.cgroup instead, so that
 * `--cgroup-root` moves every hierarchy at once (tests point it at a fixture tree).
 */
export function rebaseMount(mountPoint: string, roots: Roots): string {
  if (roots.cgroup === DEFAULT_ROOTS.cgroup) return mountPoint;
  const rel = relative(DEFAULT_ROOTS.cgroup, mountPoint);
  if (rel === '') return roots.cgroup;
  if (rel.startsWith('..') || isAbsolute(rel)) return mountPoint;
  return join(roots.cgroup, rel);
}

/**
 * Decide the mode from mountinfo. Pure: `unifiedControllers` is the text of the cgroup2
 * root's `cgroup.controllers` (undefined when there is no cgroup2 mount or it is unreadable).
 * A v1 hierarchy with no controllers (`name=systemd`) does not make a host hybrid.
 */
export function layoutFromMounts(
  mounts: readonly MountInfo[],
  roots: Roots,
  unifiedControllers: (mount: string) => string | undefined,
): CgroupLayout {
  const v1: HierarchyMount[] = [];
  let unified: HierarchyMount | null = null;
  for (const m of mounts) {
    if (m.fsType === 'cgroup') {
      const controllers = m.superOptions.filter((o) => KNOWN_V1_CONTROLLERS.has(o));
      if (controllers.length === 0) continue;
      v1.push({ version: 1, mount: rebaseMount(m.mountPoint, roots), hostMount: m.mountPoint, root: m.root, controllers });
    } else if (m.fsType === 'cgroup2' && unified === null) {
      const mount = rebaseMount(m.mountPoint, roots);
      const text = unifiedControllers(mount);
      unified = {
        version: 2,
        mount,
        hostMount: m.mountPoint,
        root: m.root,
        controllers: text === undefined ? [] : text.trim().split(/\s+/).filter((c) => c !== ''),
      };
    }
  }
  const mode: CgroupMode = v1.length === 0 ? 'v2' : unified === null ? 'v1' : 'hybrid';
  const memory =
    v1.find((h) => h.controllers.includes('memory')) ??
    (unified !== null && unified.controllers.includes('memory') ? unified : null);
  return { mode, memory, unified, v1 };
}

const KNOWN_V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'blkio', 'perf_event',
  'net_prio', 'hugetlb', 'pids', 'rdma', 'misc',
]);

/** Detect the host's cgroup layout from `<proc>/self/mountinfo` and the cgroup2 root's controllers. */
export function detectLayout(roots: Roots): CgroupLayout {
  return layoutFromMounts(readMountInfo(roots.proc), roots, (mount) => {
    try {
      return readFileSync(join(mount, 'cgroup.controllers'), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'EACCES', 'ENOTDIR')) return undefined;
      throw err;
    }
  });
}
