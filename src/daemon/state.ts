import { closeSync, constants, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';
import { readOptional } from '../cgroup/backend.js';
import { parseCursor, type KmsgCursor } from '../kmsg/cursor.js';
import { OOM_KILL_EVENT_KEYS, type OomKillEvent } from '../oom/event.js';
import type { LedgerChanges, LedgerSnapshot } from './ledger.js';

/**
 * The daemon's state, in `<state_dir>/state.jsonl`: the kmsg cursor (`boot_id`, `seq`: the same
 * keys `oomwatch tail --cursor` reads) plus the kill ledger's counter baselines and the kills read
 * but not yet exported. Restored only under the same boot id.
 *
 * The file is a journal of JSON lines: a whole state (`counters`: every cgroup), then lines with
 * what changed since the line before (`changed`: the cgroups a kill or a counter touched, null for
 * one that left). The state is the first line with the later ones applied in order; see
 * StateJournal for why, and for what keeps it short.
 */
export interface DaemonState {
  readonly cursor: KmsgCursor;
  readonly ledger: LedgerSnapshot;
}

/**
 * A pending kill as the journal keeps it: without the report's long account (stat block,
 * Mem-Info, candidates; `candidates_total` stays). Those are ≈ 2 KB a kill against ≈ 0.4 KB for
 * the rest, and the pending list is written whole with every change: a v2 group kill of 50
 * (its members wait in the pool for their counter) would rewrite ≈ 100 KB per change. The
 * `memory` line stays (≈ 60 bytes): it is the only record of the limit that fired, which the
 * kill's log line reports as `cgroup_limit_bytes` once the OOM cgroup may be gone. The kill
 * still reaches its log line with the rest unless the daemon restarts before it is attributed.
 */
export function journalEvent(e: OomKillEvent): OomKillEvent {
  if (e.memory_stat === null && e.mem_info === null && e.candidates === null) return e;
  return { ...e, memory_stat: null, mem_info: null, candidates: null };
}

/**
 * A pending kill as read back: one journalled by an older oomwatch lacks the flags added since
 * (`partial`, `possibly_child`: false for a kill the kernel's whole line reported); the event gets
 * every contract key, in contract order, so that its log line has the shape of any other.
 */
function restoredEvent(e: OomKillEvent): OomKillEvent {
  if ('partial' in e && 'possibly_child' in e) return e;
  const o: Record<string, unknown> = {};
  for (const k of OOM_KILL_EVENT_KEYS) o[k] = k in e ? e[k] : k === 'partial' || k === 'possibly_child' ? false : null;
  return o as unknown as OomKillEvent;
}

export function serializeState(s: DaemonState): string {
  return `${JSON.stringify({ boot_id: s.cursor.bootId, seq: s.cursor.seq, counters: s.ledger.counters, pending: s.ledger.pending.map(journalEvent) })}\n`;
}

/** One line of changes (see LedgerChanges). */
export function serializeChanges(cursor: KmsgCursor, c: LedgerChanges): string {
  return `${JSON.stringify({ boot_id: cursor.bootId, seq: cursor.seq, changed: c.counters, pending: c.pending.map(journalEvent) })}\n`;
}

type StateLine =
  | { readonly kind: 'state'; readonly state: DaemonState }
  | { readonly kind: 'changes'; readonly cursor: KmsgCursor; readonly changes: LedgerChanges };

/** One journal line, whole state or changes. Pure; ParseError (naming the file and the fix) on damage. */
function parseLine(text: string, source: string): StateLine {
  const cursor = parseCursor(text, source);
  const o = JSON.parse(text) as Record<string, unknown>;
  const isChanges = 'changed' in o;
  const counters = (isChanges ? o['changed'] : o['counters']) ?? {};
  const pending = o['pending'] ?? [];
  const fix = `remove ${source} to start from the end of the kernel log`;
  if (
    typeof counters !== 'object' ||
    counters === null ||
    Array.isArray(counters) ||
    Object.values(counters).some((v) => !(Number.isSafeInteger(v) || (isChanges && v === null)))
  ) {
    throw new ParseError(source, `corrupt state: ${isChanges ? 'changed' : 'counters'} must map cgroup paths to integers; ${fix}`);
  }
  if (!Array.isArray(pending) || pending.some((e) => typeof e !== 'object' || e === null || typeof (e as OomKillEvent).pid !== 'number')) {
    throw new ParseError(source, `corrupt state: pending must be a list of kill events; ${fix}`);
  }
  const events = (pending as OomKillEvent[]).map(restoredEvent);
  return isChanges
    ? { kind: 'changes', cursor, changes: { counters: counters as Record<string, number | null>, pending: events } }
    : { kind: 'state', state: { cursor, ledger: { counters: counters as Record<string, number>, pending: events } } };
}

function apply(state: DaemonState, line: StateLine, source: string): DaemonState {
  if (line.kind === 'state') return line.state;
  const counters: Record<string, number> = { ...state.ledger.counters };
  for (const [cgroup, v] of Object.entries(line.changes.counters)) {
    if (v === null) delete counters[cgroup];
    else counters[cgroup] = v;
  }
  if (line.cursor.bootId !== state.cursor.bootId) throw new ParseError(source, `corrupt state: changes of boot ${line.cursor.bootId} after a state of boot ${state.cursor.bootId}; remove ${source} to start from the end of the kernel log`);
  return { cursor: line.cursor, ledger: { counters, pending: line.changes.pending } };
}

export function stateFile(stateDir: string): string {
  return join(stateDir, 'state.jsonl');
}

/**
 * The state a journal's text holds: its first line, with every later complete line applied. A
 * last line cut short (the daemon killed in the middle of an append) is passed over: the state is
 * then as of the last save that completed, which is what the daemon had acted on. ParseError when
 * there is no state, or a complete line is damaged.
 */
export function parseStateJournal(text: string, source: string): DaemonState {
  const lines = text.split('\n');
  // '' when the file ends with its newline; otherwise the last save was cut short, unless only
  // its newline is missing (then it is complete).
  const unterminated = lines.pop()!;
  let state: DaemonState | undefined;
  for (const text of lines) {
    if (text.trim() === '') continue;
    const line = parseLine(text, source);
    if (state === undefined && line.kind !== 'state') throw new ParseError(source, `corrupt state: changes without the state they apply to; remove ${source} to start from the end of the kernel log`);
    state = apply(state as DaemonState, line, source);
  }
  if (unterminated.trim() !== '') {
    try {
      const line = parseLine(unterminated, source);
      if (state !== undefined || line.kind === 'state') state = apply(state as DaemonState, line, source);
    } catch {
      // Cut short: the state is as of the line before.
    }
  }
  if (state === undefined) throw new ParseError(source, `corrupt state: no complete state in the file; remove ${source} to start from the end of the kernel log`);
  return state;
}

export function readState(stateDir: string): DaemonState | undefined {
  const file = stateFile(stateDir);
  const text = readOptional(file);
  return text === undefined ? undefined : parseStateJournal(text, file);
}

/** Past this length, the next save starts the journal afresh with the whole state. */
export const COMPACT_BYTES = 1 << 20;

/** Where the journal takes what it saves from (the daemon's kill ledger). */
export interface LedgerSource {
  snapshot(): LedgerSnapshot;
  takeChanges(): LedgerChanges;
}

/**
 * Saves the state by appending what changed since the last save to the journal: one write() of a
 * short line to a file kept open, no metadata change. The save runs right before a kill's log line
 * (write-ahead: a daemon killed after the line never reports the kill twice), so its time is
 * detection latency. Replacing a file (write a new one, unlink, rename) took 0.5–5 ms on this
 * disk while a killed hog was torn down; the whole state is ≈ 40 bytes of JSON per watched cgroup
 * (≈ 0.3 ms to build and write at 1,000 cgroups, milliseconds at 10,000). A line of changes holds
 * the cgroups a kill or a counter touched: its cost does not grow with the cgroups watched.
 *
 * The first save of a run (the daemon makes it at start, not in a kill's path), and the first once
 * the journal passed `compactBytes`, writes the whole state instead, alone in `state.jsonl.next`
 * renamed over the journal (at every moment one complete journal is in place). That also drops a
 * line cut short by a kill mid-append, which a later append would otherwise run into. No fsync:
 * the page cache outlives the process; only a power loss could take the last saves back.
 */
export class StateJournal {
  private fd: number | undefined;
  private size = 0;

  constructor(
    private readonly stateDir: string,
    private readonly compactBytes = COMPACT_BYTES,
  ) {}

  get file(): string {
    return stateFile(this.stateDir);
  }

  save(cursor: KmsgCursor, ledger: LedgerSource): void {
    if (this.fd === undefined || this.size > this.compactBytes) {
      // The whole state holds every change so far.
      ledger.takeChanges();
      this.restart(Buffer.from(serializeState({ cursor, ledger: ledger.snapshot() }), 'utf8'));
      return;
    }
    // Cgroup paths need not be ASCII: count bytes, not chars.
    const buf = Buffer.from(serializeChanges(cursor, ledger.takeChanges()), 'utf8');
    let n: number;
    try {
      n = writeSync(this.fd, buf);
    } catch (err) {
      // Whatever part of the line got written, and the changes it held, the next save writes the
      // whole state afresh.
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
    this.fd = openSync(file, constants.O_WRONLY | constants.O_APPEND);
    this.size = line.length;
  }
}

export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
}
