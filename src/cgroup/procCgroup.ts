import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';

/** One line of /proc/<pid>/cgroup: `hierarchy-ID:controller-list:cgroup-path` (man 7 cgroups). */
export interface ProcCgroupEntry {
  readonly hierarchyId: number;
  /** Empty for the cgroup v2 line (`0::/path`). */
  readonly controllers: readonly string[];
  readonly path: string;
}

/** Parse the text of /proc/<pid>/cgroup. Pure. */
export function parseProcCgroup(text: string, source = 'cgroup'): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line === '') continue;
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null) throw new ParseError(source, `malformed line ${JSON.stringify(line)}`, { line: i + 1 });
    out.push({
      hierarchyId: Number(m[1]),
      controllers: m[2] === '' ? [] : (m[2] as string).split(','),
      path: m[3] as string,
    });
  }
  return out;
}

/** Read and parse `<proc>/<pid>/cgroup` (pid defaults to `self`). */
export function readProcCgroup(procRoot: string, pid: number | 'self' = 'self'): ProcCgroupEntry[] {
  const file = join(procRoot, String(pid), 'cgroup');
  return parseProcCgroup(readFileSync(file, 'utf8'), file);
}
