import { closeSync, constants, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError, isErrno } from '../errors.js';
import { parseCursor, type KmsgCursor } from '../kmsg/cursor.js';
import type { OomKillEvent } from '../oom/event.js';
import type { LedgerSnapshot } from './ledger.js';

/**
 * The daemon's state, in `<state_dir>/state.jsonl`: the kmsg cursor (`boot_id`, `seq`: the same
 * keys `oomwatch tail --cursor` reads) plus the kill ledger's counter baselines and the kills read
 * but not yet exported. Restored only under the same boot id.
 *
 * The file is a journal: each save appends the whole state as one JSON line, and the last line
 * that parses is the state (see StateJournal for why, and for what keeps it short).
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
  return join(stateDir, 'state.jsonl');
}

/** Where an earlier oomwatch kept one state per file: read if there is no journal yet, then removed. */
function legacyStateFiles(stateDir: string): string[] {
  const old = join(stateDir, 'state.json');
  return [old, `${old}.next`];
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * The last complete state in a journal's text. A last line cut short (the daemon killed in the
 * middle of an append) is passed over: the one before it is the state as of the last save that
 * completed, which is what the daemon had acted on. ParseError when no line is a state.
 */
export function parseStateJournal(text: string, source: string): DaemonState {
  const lines = text.split('\n');
  // '' when the file ends with its newline; otherwise the last save was cut short, unless only
  // its newline is missing (then it is complete).
  const unterminated = lines.pop()!;
  if (unterminated.trim() !== '') {
    try {
      return parseState(unterminated, source);
    } catch {
      // Cut short: the state is the line before.
    }
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    // A complete line that does not parse is damage, not a cut: parseState says so.
    if (line.trim() !== '') return parseState(line, source);
  }
  throw new ParseError(source, `corrupt state: no complete state in the file; remove ${source} to start from the end of the kernel log`);
}

export function readState(stateDir: string): DaemonState | undefined {
  const file = stateFile(stateDir);
  const text = readIfThere(file);
  if (text !== undefined) return parseStateJournal(text, file);
  for (const legacy of legacyStateFiles(stateDir)) {
    const old = readIfThere(legacy);
    if (old !== undefined) return parseState(old, legacy);
  }
  return undefined;
}

/** Once the journal would pass this length, the save starts it afresh with that one state. */
export const COMPACT_BYTES = 1 << 20;

/**
 * Saves the state by appending it to the journal: one write() to a file kept open, no metadata
 * change. The save runs right before a kill's log line (write-ahead: a daemon killed after the
 * line never reports the kill twice), so its time is detection latency: replacing a file
 * (write a new one, unlink, rename) took 0.5–5 ms on this disk while a killed hog was torn down,
 * the append 0.06–0.1 ms (≈ 3 µs when the machine is quiet), plus the JSON (bench/README.md).
 *
 * The first save of a run (the daemon makes it at start, not in a kill's path), and any once the
 * journal passed COMPACT_BYTES, starts it afresh
 * instead: the state alone in `state.jsonl.next`, renamed over the journal (at every moment one
 * complete journal is in place). That also drops a line cut short by a kill mid-append, which a
 * later append would otherwise run into. No fsync: the page cache outlives the process; only a
 * power loss could take the last saves back.
 */
export class StateJournal {
  private fd: number | undefined;
  private size = 0;

  constructor(private readonly stateDir: string) {}

  get file(): string {
    return stateFile(this.stateDir);
  }

  save(s: DaemonState): void {
    // Cgroup paths need not be ASCII: count bytes, not chars.
    const buf = Buffer.from(serializeState(s), 'utf8');
    if (this.fd === undefined || this.size + buf.length > COMPACT_BYTES) {
      this.restart(buf);
      return;
    }
    let n: number;
    try {
      n = writeSync(this.fd, buf);
    } catch (err) {
      // Whatever part of the line got written, the next save starts the journal afresh.
      this.close();
      throw err;
    }
    this.size += n;
    if (n !== buf.length) {
      // A short write (ENOSPC on the way): the journal now ends in a cut line. Start afresh.
      this.close();
      throw new Error(`${this.file}: short write (${n} of ${buf.length} bytes)`);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private restart(line: Buffer): void {
    this.close();
    const file = this.file;
    const next = `${file}.next`;
    writeFileSync(next, line, { mode: 0o644 });
    renameSync(next, file);
    for (const legacy of legacyStateFiles(this.stateDir)) {
      try {
        unlinkSync(legacy);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    this.fd = openSync(file, constants.O_WRONLY | constants.O_APPEND);
    this.size = line.length;
  }
}

export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
}
