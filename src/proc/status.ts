import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';

/**
 * The fields of /proc/<pid>/status that the OOM killer's choice depends on
 * (Documentation/filesystems/proc.rst, table 1-2). Sizes in kB; absent for kernel threads and
 * zombies, which have no memory map.
 */
export interface ProcStatus {
  /** The comm (`Name:`), as proc prints it (it escapes `\n` and `\\`). */
  readonly name: string;
  readonly pid: number;
  readonly uid: number | undefined;
  /** `Kthread: 1` (6.x) or no memory map: never an OOM victim. */
  readonly kthread: boolean;
  readonly vmRssKb: number | undefined;
  readonly rssAnonKb: number | undefined;
  readonly rssFileKb: number | undefined;
  readonly rssShmemKb: number | undefined;
  readonly vmSwapKb: number | undefined;
  readonly vmPteKb: number | undefined;
}

function kb(v: string | undefined, key: string, source: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+) kB$/.exec(v.trim());
  if (m === null) throw new ParseError(source, `${key}: expected "<n> kB", got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw new ParseError(source, `${key}: ${JSON.stringify(v)} is too large`);
  return n;
}

/** Parse the text of /proc/<pid>/status. Pure; unknown keys are skipped. */
export function parseProcStatus(text: string, source = 'status'): ProcStatus {
  const f = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    f.set(line.slice(0, colon), line.slice(colon + 1).replace(/^\t/, ''));
  }
  const name = f.get('Name');
  const pid = Number(f.get('Pid'));
  if (name === undefined || !Number.isSafeInteger(pid)) {
    throw new ParseError(source, 'no Name: or Pid: line');
  }
  const uidField = f.get('Uid')?.trim().split(/\s+/)[0];
  const vmRssKb = kb(f.get('VmRSS'), 'VmRSS', source);
  return {
    name,
    pid,
    uid: uidField === undefined ? undefined : Number(uidField),
    kthread: f.get('Kthread')?.trim() === '1' || vmRssKb === undefined,
    vmRssKb,
    rssAnonKb: kb(f.get('RssAnon'), 'RssAnon', source),
    rssFileKb: kb(f.get('RssFile'), 'RssFile', source),
    rssShmemKb: kb(f.get('RssShmem'), 'RssShmem', source),
    vmSwapKb: kb(f.get('VmSwap'), 'VmSwap', source),
    vmPteKb: kb(f.get('VmPTE'), 'VmPTE', source),
  };
}

/** Read and parse `<proc>/<pid>/status`. */
export function readProcStatus(procRoot: string, pid: number): ProcStatus {
  const file = join(procRoot, String(pid), 'status');
  return parseProcStatus(readFileSync(file, 'utf8'), file);
}
