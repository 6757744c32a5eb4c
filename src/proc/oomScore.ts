import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';

/**
 * /proc/<pid>/oom_score (the kernel's badness of the task in thousandths of RAM + swap, always,
 * whatever cgroup limit would fire: 0..2000 before Linux 5.9; since 5.9 shifted by 1000 and scaled by
 * 2/3, so 0..≈1333, and ≈ 666 for every small process) and /proc/<pid>/oom_score_adj (-1000..1000; -1000 = never kill),
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
