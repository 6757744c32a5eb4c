/**
 * Glob patterns over cgroup paths (`/kubepods.slice/**`, `/system.slice/*.service`):
 * `*` matches within one path segment, `**` any number of whole segments, `?` one character.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      // `/**` at the end, or `/**/` in the middle, matches zero or more segments.
      if (glob[i + 2] === '/') {
        re += '(?:[^/]*/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A cgroup is watched when it matches an include pattern and no exclude pattern. */
export function makeCgroupFilter(include: readonly string[], exclude: readonly string[]): (path: string) => boolean {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return (path) => inc.some((r) => r.test(path)) && !exc.some((r) => r.test(path));
}
