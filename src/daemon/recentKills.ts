/**
 * The daemon's record of recent kills: `<stateDir>/kills.jsonl`, one RecordedKill per line, oldest
 * first. This reader is what `oomwatch explain` needs of it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, isErrno } from '../errors.js';
import type { OomKillEvent } from '../oom/event.js';
import type { LimitFired } from '../oom/limit.js';

export interface RecordedKill {
  /** The event exactly as the daemon built it (kill_time set). */
  event: OomKillEvent;
  /** The daemon's names for it; null where unknown. */
  names: {
    namespace: string | null;
    pod: string | null;
    container: string | null;
    image: string | null;
    container_name: string | null;
    limit: LimitFired | null;
    main_process: boolean | null;
  };
  /** When the daemon found it (RFC 3339): later than kill_time for a kill found after a restart. */
  detected_at: string;
}

export const RECENT_KILLS_FILE = 'kills.jsonl';

/** Oldest first; [] when the daemon has recorded none; throws an OomwatchError naming the file when unreadable. */
export function readRecentKills(stateDir: string): RecordedKill[] {
  const file = join(stateDir, RECENT_KILLS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    if (isErrno(err, 'EACCES', 'EPERM')) throw new OomwatchError('EIO', `cannot read ${file}: ${err.code}; run as root (sudo) or as the daemon's user`, { cause: err });
    if (isErrno(err)) throw new OomwatchError('EIO', `cannot read ${file}: ${err.code}`, { cause: err });
    throw err;
  }
  const out: RecordedKill[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    let k: unknown;
    try {
      k = JSON.parse(line);
    } catch (err) {
      // A line cut short by a crash mid-write can only be the last one.
      if (i === lines.length - 1) break;
      throw new OomwatchError('EPARSE', `${file}:${i + 1}: not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (!isRecordedKill(k)) throw new OomwatchError('EPARSE', `${file}:${i + 1}: not a recorded kill (want event, names, detected_at)`);
    out.push(k);
  }
  return out;
}

function isRecordedKill(k: unknown): k is RecordedKill {
  if (typeof k !== 'object' || k === null) return false;
  const r = k as Record<string, unknown>;
  const e = r['event'] as Record<string, unknown> | null | undefined;
  return typeof e === 'object' && e !== null && typeof e['pid'] === 'number' && typeof r['names'] === 'object' && r['names'] !== null && typeof r['detected_at'] === 'string';
}
