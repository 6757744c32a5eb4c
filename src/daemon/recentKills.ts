/**
 * The daemon's record of the last kills, in `<state_dir>/kills.jsonl`: one JSON line per kill the
 * daemon logged, `{boot_id, detected_at, names, event}`, oldest first, read by `oomwatch kills`
 * and `oomwatch explain`. Bounded: the last `keep` kills found within `maxAgeMs`.
 *
 * Each kill is recorded once, also across a crash. The kill pipeline records a kill before it
 * saves the state journal (state.ts) and logs the kill's line. Killed before the record, the
 * daemon finds the kill again after its restart (the saved cursor is before it, or the journal
 * still holds it as pending) and records it then. Killed between the record and the save, it
 * finds the kill again too: the record already holds it under its boot id and kernel log SEQ (the
 * key of a kernel log record for as long as the boot lasts), and passes it over. Killed in the
 * middle of the record's append, the file ends in a cut line: the next start passes it over and
 * rewrites the file without it, and the kill, found again, is recorded whole.
 */
import { closeSync, constants, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OomwatchError, isErrno } from '../errors.js';
import type { OomKillEvent } from '../oom/event.js';
import type { LimitFired } from '../oom/limit.js';

export interface RecordedKill {
  /** The event exactly as the daemon built it (kill_time set). */
  event: OomKillEvent;
  /** The daemon's names for it; null where unknown. */
  names: { namespace: string | null; pod: string | null; container: string | null; image: string | null;
           container_name: string | null; limit: LimitFired | null; main_process: boolean | null };
  /** When the daemon found it (RFC 3339): later than kill_time for a kill found after a restart. */
  detected_at: string;
}

export function recentKillsFile(stateDir: string): string {
  return join(stateDir, 'kills.jsonl');
}

/** How many kills the record keeps, and for how long (by when they were found). */
export interface RecentKillsBound {
  readonly keep: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_RECENT_KILLS: RecentKillsBound = Object.freeze({ keep: 1000, maxAgeMs: 30 * 86_400_000 });

/**
 * How far past its bound the file may grow before it is rewritten: a rewrite copies the whole file
 * (≈ 2.5 KB a kill with the report's account, ≈ 2.5 MB at 1,000), so it is done once per tenth of
 * `keep` kills rather than for each, and once an hour (or a tenth of the age) for the age.
 */
const countSlack = (b: RecentKillsBound): number => Math.max(10, Math.ceil(b.keep / 10));
const ageSlackMs = (b: RecentKillsBound): number => Math.min(3_600_000, b.maxAgeMs / 10);

const NAME_KEYS = ['namespace', 'pod', 'container', 'image', 'container_name', 'limit', 'main_process'] as const;

/** One line of the file, with its newline. */
export function serializeRecordedKill(bootId: string | null, k: RecordedKill): string {
  return `${JSON.stringify({ boot_id: bootId, detected_at: k.detected_at, names: k.names, event: k.event })}\n`;
}

/** What a kill is known by across restarts: its boot and its kernel log SEQ; null when either is unknown. */
function keyOf(bootId: unknown, seq: unknown): string | null {
  return typeof bootId === 'string' && Number.isSafeInteger(seq) ? `${bootId}/${String(seq)}` : null;
}

interface Entry {
  /** The line as written (a rewrite keeps it as it is, keys of other versions included). */
  readonly line: string;
  readonly kill: RecordedKill;
  readonly key: string | null;
  readonly detectedMs: number;
}

interface ParsedEntries {
  readonly entries: Entry[];
  /** Lines passed over: cut short (a crash mid-append), not a kill record, or a kill already read. */
  readonly skipped: number;
}

/** One line as a RecordedKill; undefined when it is not one. Keys this version does not know are ignored. */
function parseEntry(line: string): Entry | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  const { event, names, detected_at: detectedAt, boot_id: bootId } = o as Record<string, unknown>;
  if (typeof event !== 'object' || event === null || typeof (event as OomKillEvent).pid !== 'number') return undefined;
  if (typeof detectedAt !== 'string') return undefined;
  const detectedMs = Date.parse(detectedAt);
  if (!Number.isFinite(detectedMs)) return undefined;
  const n = (typeof names === 'object' && names !== null ? names : {}) as Record<string, unknown>;
  const kill: RecordedKill = {
    event: event as OomKillEvent,
    names: Object.fromEntries(NAME_KEYS.map((k) => [k, n[k] ?? null])) as RecordedKill['names'],
    detected_at: detectedAt,
  };
  return { line, kill, key: keyOf(bootId, (event as OomKillEvent).seq), detectedMs };
}

function parseEntries(text: string): ParsedEntries {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const e = parseEntry(line);
    if (e === undefined || (e.key !== null && seen.has(e.key))) {
      skipped += 1;
      continue;
    }
    if (e.key !== null) seen.add(e.key);
    entries.push(e);
  }
  return { entries, skipped };
}

/**
 * The kills a record's text holds, oldest first (pure). A line that is not a kill record (the
 * last one cut short by a crash mid-append, above all) is passed over and counted in `skipped`,
 * as is a second record of the same kill; a record with keys this version does not know is read.
 */
export function parseRecentKills(text: string): { kills: RecordedKill[]; skipped: number } {
  const { entries, skipped } = parseEntries(text);
  return { kills: entries.map((e) => e.kill), skipped };
}

/**
 * Read the record: the kills and how many lines were passed over. No file in an existing state
 * directory: none recorded. An OomwatchError naming the directory or the file and the fix when
 * the directory is not there or the file cannot be read.
 */
export function loadRecentKills(stateDir: string): { file: string; kills: RecordedKill[]; skipped: number } {
  const file = recentKillsFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') && isDirectory(stateDir)) return { file, kills: [], skipped: 0 };
    throw unreadable(stateDir, file, err);
  }
  return { file, ...parseRecentKills(text) };
}

/** Oldest first; [] when the daemon has recorded none; throws an OomwatchError naming the file when unreadable. */
export function readRecentKills(stateDir: string): RecordedKill[] {
  return loadRecentKills(stateDir).kills;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function unreadable(stateDir: string, file: string, err: unknown): OomwatchError {
  const fix = "point --state-dir at the daemon's state directory (its state_dir setting)";
  if (isErrno(err, 'ENOENT', 'ENOTDIR')) {
    return new OomwatchError('EIO', `state directory ${stateDir} does not exist (no ${file}): ${fix}`, { cause: err });
  }
  if (isErrno(err, 'EACCES', 'EPERM')) {
    return new OomwatchError('EIO', `cannot read ${file}: permission denied; run as root or as the daemon's user`, { cause: err });
  }
  return new OomwatchError('EIO', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
}

/** What the kill pipeline records through. */
export interface KillRecorder {
  /** Record a kill unless its boot id and SEQ are already recorded; true when it was written. */
  record(bootId: string | null, kill: RecordedKill): boolean;
}

/**
 * The daemon's writer of the record: each kill one write() of its line to the file kept open (the
 * state journal's way: no file created or renamed in the kill's path), skipped when the kill's boot
 * id and SEQ are already in the file. Past its bound the file is rewritten (`kills.jsonl.next` renamed over it: at every moment one complete record is in
 * place) from maintain(), which the daemon calls after each poll, outside the kill's path. Never
 * throws: an error is logged once, shown in status(), and the file is opened afresh at the next
 * kill or poll.
 */
export class RecentKills implements KillRecorder {
  private fd: number | undefined;
  /** The boot id and SEQ of every kill in the file. */
  private readonly keys = new Set<string>();
  private count = 0;
  /** When the oldest kill in the file was found (ms). */
  private oldestMs = Infinity;
  private lastError: string | null = null;

  constructor(
    private readonly stateDir: string,
    private bound: RecentKillsBound,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  get file(): string {
    return recentKillsFile(this.stateDir);
  }

  /** Read what the file holds (its keys, for what a restart finds again) and open it to append. */
  open(): void {
    this.reopen();
  }

  /** A new bound (a config reload): applied at the next maintain(). */
  setBound(bound: RecentKillsBound): void {
    this.bound = bound;
  }

  record(bootId: string | null, kill: RecordedKill): boolean {
    const key = keyOf(bootId, kill.event.seq);
    if (key !== null && this.keys.has(key)) return false;
    if (this.fd === undefined) {
      this.reopen();
      // The file read again may hold it (a write that reached the file and then failed).
      if (this.fd === undefined || (key !== null && this.keys.has(key))) return false;
    }
    const buf = Buffer.from(serializeRecordedKill(bootId, kill), 'utf8');
    let n: number;
    try {
      n = writeSync(this.fd, buf);
    } catch (err) {
      this.fail(`cannot append to ${this.file}: ${(err as Error).message}`);
      return false;
    }
    if (n !== buf.length) {
      // ENOSPC on the way: the file ends in a cut line, which the next open passes over.
      this.fail(`cannot append to ${this.file}: short write (${n} of ${buf.length} bytes)`);
      return false;
    }
    if (key !== null) this.keys.add(key);
    this.count += 1;
    this.oldestMs = Math.min(this.oldestMs, Date.parse(kill.detected_at));
    return true;
  }

  /** After each poll: open the file again after an error; rewrite it when past its bound. */
  maintain(): void {
    if (this.fd === undefined) {
      this.reopen();
      return;
    }
    const b = this.bound;
    if (this.count > b.keep + countSlack(b) || this.oldestMs < this.now() - b.maxAgeMs - ageSlackMs(b)) this.reopen();
  }

  status(): { file: string; error: string | null } {
    return { file: this.file, error: this.lastError };
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * Read the file, keep the kills within the bound, rewrite it when that drops anything or its
   * last line has no newline, open it to append.
   */
  private reopen(): void {
    this.close();
    const file = this.file;
    try {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      const { entries, skipped } = parseEntries(text);
      if (skipped > 0) this.log.warn({ event: 'kills_record_skipped', file, lines: skipped }, `${file}: ${skipped} line(s) that are not a whole kill record passed over (a write cut short by a crash)`);
      const since = this.now() - this.bound.maxAgeMs;
      const kept = entries.filter((e) => e.detectedMs >= since).slice(-this.bound.keep);
      // A last line without its newline, whole or not, would run into the next append.
      if (kept.length !== entries.length || skipped > 0 || (text !== '' && !text.endsWith('\n'))) {
        const next = `${file}.next`;
        writeFileSync(next, kept.map((e) => `${e.line}\n`).join(''), { mode: 0o644 });
        renameSync(next, file);
      }
      this.fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
      this.keys.clear();
      for (const e of kept) if (e.key !== null) this.keys.add(e.key);
      this.count = kept.length;
      this.oldestMs = kept.reduce((min, e) => Math.min(min, e.detectedMs), Infinity);
      if (this.lastError !== null) this.log.info({ event: 'kills_record_ok', file }, `${file}: kills are recorded again`);
      this.lastError = null;
    } catch (err) {
      this.fail(`cannot open ${file}: ${(err as Error).message}`);
    }
  }

  private fail(msg: string): void {
    this.close();
    if (this.lastError !== msg) this.log.error({ event: 'kills_record_error', err: msg }, `${msg}; kills are logged and counted but not recorded for oomwatch kills`);
    this.lastError = msg;
  }
}
