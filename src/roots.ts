/**
 * The injected roots: every path oomwatch reads or writes on the host, in one object.
 * Every module receives it; every field is a CLI flag, so a test can point the whole
 * program at a fixture tree.
 */
export interface Roots {
  /** Where cgroup hierarchies are mounted, as seen in mountinfo (usually /sys/fs/cgroup). */
  readonly cgroup: string;
  /** The proc filesystem (usually /proc). */
  readonly proc: string;
  /** The kernel log device (usually /dev/kmsg). */
  readonly kmsg: string;
}

export const DEFAULT_ROOTS: Roots = Object.freeze({
  cgroup: '/sys/fs/cgroup',
  proc: '/proc',
  kmsg: '/dev/kmsg',
});

export function rootsFrom(opts: { cgroupRoot?: string; procRoot?: string; kmsgPath?: string }): Roots {
  return {
    cgroup: opts.cgroupRoot ?? DEFAULT_ROOTS.cgroup,
    proc: opts.procRoot ?? DEFAULT_ROOTS.proc,
    kmsg: opts.kmsgPath ?? DEFAULT_ROOTS.kmsg,
  };
}
