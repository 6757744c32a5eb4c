import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';

/** One line of /proc/<pid>/mountinfo (Documentation/filesystems/proc.rst, 3.5). */
export interface MountInfo {
  readonly mountId: number;
  readonly parentId: number;
  /** The root of the mount within its filesystem (for cgroups: the cgroup the namespace sees as `/`). */
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse the text of /proc/<pid>/mountinfo. Pure. */
export function parseMountInfo(text: string, source = 'mountinfo'): MountInfo[] {
  const mounts: MountInfo[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line.trim() === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const [id, parent, , root, mountPoint] = fields;
    if (sep < 0 || fields.length < sep + 4 || root === undefined || mountPoint === undefined) {
      throw new ParseError(source, `malformed mountinfo line: ${JSON.stringify(line)}`, { line: i + 1 });
    }
    const mountId = Number(id);
    const parentId = Number(parent);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) {
      throw new ParseError(source, `malformed mount id in ${JSON.stringify(line)}`, { line: i + 1 });
    }
    mounts.push({
      mountId,
      parentId,
      root: unescapeOctal(root),
      mountPoint: unescapeOctal(mountPoint),
      fsType: fields[sep + 1] as string,
      source: unescapeOctal(fields[sep + 2] as string),
      superOptions: (fields[sep + 3] as string).split(','),
    });
  }
  return mounts;
}

/** Read and parse `<proc>/self/mountinfo`. */
export function readMountInfo(procRoot: string): MountInfo[] {
  const file = join(procRoot, 'self', 'mountinfo');
  return parseMountInfo(readFileSync(file, 'utf8'), file);
}
