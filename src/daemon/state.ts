import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError, isErrno } from '../errors.js';
import { parseCursor, type KmsgCursor } from '../kmsg/cursor.js';
import type { OomKillEvent } from '../oom/event.js';
import type { LedgerSnapshot } from './ledger.js';

/**
 * The daemon's state file, `<state_dir>/state.json`: the kmsg cursor (`boot_id`, `seq`: the same
 * keys `oomwatch tail --cursor` reads) plus the kill ledger's counter baselines and the kills read
 * but not yet exported. Restored only under the same boot id.
 */
export interface DaemonState {
  readonly cursor: KmsgCursor;
  readonly ledger: LedgerSnapshot;
}

export function serializeState(s: DaemonState): string {
  return `${JSON.stringify({ boot_id: s.cursor.bootId, seq: s.cursor.seq, counters: s.ledger.counters, pending: s.ledger.pending })}\n`;
}

/** Pure; ParseError (naming the file and the fix) on a damaged file. */
export function parseState(text: string, source: string): DaemonState {
  const cursor = parseCursor(text, source);
  const o = JSON.parse(text) as Record<string, unknown>;
  const counters = o['counters'] ?? {};
  const pending = o['pending'] ?? [];
  const fix = `remove ${source} to start from the end of the kernel log`;
  if (typeof counters !== 'object' || counters === null || Array.isArray(counters) || Object.values(counters).some((v) => !Number.isSafeInteger(v))) {
    throw new ParseError(source, `corrupt state: counters must map cgroup paths to integers; ${fix}`);
  }
  if (!Array.isArray(pending) || pending.some((e) => typeof e !== 'object' || e === null || typeof (e as OomKillEvent).pid !== 'number')) {
    throw new ParseError(source, `corrupt state: pending must be a list of kill events; ${fix}`);
  }
  return { cursor, ledger: { counters: counters as Record<string, number>, pending: pending as OomKillEvent[] } };
}

export function stateFile(stateDir: string): string {
  return join(stateDir, 'state.json');
}

export function readState(stateDir: string): DaemonState | undefined {
  const file = stateFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  return parseState(text, file);
}

/**
 * Save atomically: write a temporary file next to it, then rename over it. Synchronous, because it
 * runs right after kills were exported: a daemon killed between the two would count them again
 * after its restart, so that window is kept as short as possible. No fsync: the page cache outlives
 * the process; only a power loss could take the last write back.
 */
export function saveState(stateDir: string, s: DaemonState): void {
  const file = stateFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeState(s), { mode: 0o644 });
  renameSync(tmp, file);
}

export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
}
