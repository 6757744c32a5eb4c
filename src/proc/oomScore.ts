import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';

/**
 * /proc/<pid>/oom_score (0..2000 on current kernels: the kernel's badness of the task, scaled by
 * total memory) and /proc/<pid>/oom_score_adj (-1000..1000; -1000 = never kill),
 * Documentation/filesystems/proc.rst section 3.1/3.2, fs/proc/base.c.
 */
export function parseOomScore(text: string, source = 'oom_score'): number {
  const t = text.trim();
  const n = Number(t);
  if (t === '' || !/^-?\d+$/.test(t) || !Number.isSafeInteger(n)) {
    throw new ParseError(source, `expected an integer, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return n;
}

export function parseOomScoreAdj(text: string, source = 'oom_score_adj'): number {
  const n = parseOomScore(text, source);
  if (n < -1000 || n > 1000) throw new ParseError(source, `out of range -1000..1000: ${n}`);
  return n;
}

export function readOomScore(procRoot: string, pid: number): number {
  const file = join(procRoot, String(pid), 'oom_score');
  return parseOomScore(readFileSync(file, 'utf8'), file);
}

export function readOomScoreAdj(procRoot: string, pid: number): number {
  const file = join(procRoot, String(pid), 'oom_score_adj');
  return parseOomScoreAdj(readFileSync(file, 'utf8'), file);
}
