import { posix } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * File names a cgroup directory may not take because they are (or look like) control files:
 * `cgroup.procs`, `memory.max`, `tasks`, ... (Documentation/admin-guide/cgroup-v2.rst, "Naming").
 */
const CONTROL_FILE = /^(cgroup|memory|cpu|cpuacct|cpuset|io|blkio|pids|hugetlb|rdma|misc|devices|freezer|net_cls|net_prio|perf_event)\./;
const V1_FILES = new Set(['tasks', 'notify_on_release', 'release_agent']);

/**
 * NAME_MAX (include/uapi/linux/limits.h): the most bytes of one path component. cgroupfs does not
 * enforce it on every kernel (mkdir of a 256-byte name succeeds on some), but programs size their
 * buffers for a directory entry by it (struct dirent's d_name[256]), so a longer name is refused.
 */
export const NAME_MAX = 255;

/**
 * Normalize and validate a cgroup NAME given on the command line: a path relative to the memory
 * hierarchy's root (`batch/worker-1`); one leading `/` is accepted, so a path copied from a kernel
 * report (`/batch/worker-1`) works. Returns the canonical kernel form with a leading slash
 * (`/batch/worker-1`), or `/` for the root when `allowRoot`.
 * Refuses anything that could leave the hierarchy, name a control file or have a component longer
 * than NAME_MAX bytes (exit 2, nothing written).
 */
export function cgroupPath(name: string, opts: { parent?: string; allowRoot?: boolean } = {}): string {
  const parts = [...segments(opts.parent ?? '', '--parent'), ...segments(name, 'NAME')];
  if (parts.length === 0 && !opts.allowRoot) {
    throw new UsageError(`cgroup name ${JSON.stringify(name)} names the root of the hierarchy; give a child such as batch/worker-1`);
  }
  return `/${parts.join('/')}`;
}

function segments(raw: string, what: string): string[] {
  if (raw.includes('\0') || raw.includes('\n')) throw new UsageError(`${what} ${JSON.stringify(raw)} contains a NUL or newline`);
  const s = raw.startsWith('/') ? raw.slice(1) : raw;
  if (s.startsWith('/')) throw new UsageError(`${what} ${JSON.stringify(raw)} is not a cgroup path; write it relative to the hierarchy root, e.g. batch/worker-1`);
  if (s === '') return [];
  const out: string[] = [];
  for (const seg of s.replace(/\/+$/, '').split('/')) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new UsageError(`${what} ${JSON.stringify(raw)} has an empty, "." or ".." component; cgroup names must stay inside the hierarchy`);
    }
    if (CONTROL_FILE.test(seg) || V1_FILES.has(seg)) {
      throw new UsageError(`${what} ${JSON.stringify(raw)}: ${JSON.stringify(seg)} is the name of a cgroup control file, not a cgroup`);
    }
    const bytes = Buffer.byteLength(seg, 'utf8');
    if (bytes > NAME_MAX) {
      const which = seg === raw ? `${what} ${JSON.stringify(raw)}` : `${what} ${JSON.stringify(raw)}: the component ${JSON.stringify(seg)}`;
      throw new UsageError(`${which} is ${bytes} bytes; a cgroup name component may have at most ${NAME_MAX} bytes (NAME_MAX, counted in UTF-8)`);
    }
    out.push(seg);
  }
  return out;
}

/** The directory of cgroup `path` (kernel form, `/a/b`) under a hierarchy mounted at `mount`. */
export function cgroupDir(mount: string, path: string): string {
  return posix.join(mount, path);
}

/** Ancestors from the top down, excluding the root and the cgroup itself: `/a/b/c` → `/a`, `/a/b`. */
export function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}
