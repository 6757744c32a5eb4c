import { ParseError } from '../errors.js';

/**
 * The soft "Max open files" limit (RLIMIT_NOFILE) from /proc/<pid>/limits (proc(5)); null when
 * unlimited. Node cannot call getrlimit(2): this file is how a process learns its own limit.
 */
export function parseMaxOpenFiles(text: string, source = '/proc/self/limits'): number | null {
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  if (line === undefined) throw new ParseError(source, 'no "Max open files" line');
  const soft = line.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === 'unlimited') return null;
  if (soft === undefined || !/^\d+$/.test(soft)) throw new ParseError(source, `bad soft limit in ${JSON.stringify(line)}`);
  return Number(soft);
}
