/**
 * One daemon per state directory: `<state_dir>/daemon.lock` names the daemon that holds it by pid,
 * the process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot) and the boot id.
 * A lock whose process is gone, or whose pid now belongs to a process started at another time
 * (pid reuse), or from another boot, is stale: a daemon killed with SIGKILL never blocks the
 * next one. Nothing is ever signalled to find out. The files read are this host's real /proc, not
 * the injected roots (those describe the observed host; the lock is about this one).
 */
import { linkSync, mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OomwatchError, ParseError, isErrno } from '../errors.js';

/** Who holds a state directory. */
export interface LockOwner {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (starttime), as the kernel prints it. */
  readonly startTime: string;
  readonly bootId: string;
}

/** Another daemon, still running, holds the state directory. */
export class StateDirLockedError extends OomwatchError {
  constructor(
    readonly file: string,
    readonly owner: LockOwner,
  ) {
    super(
      'EBUSY',
      `state directory ${join(file, '..')} is in use by the oomwatch daemon with pid ${owner.pid} (${file}); ` +
        'stop that one first, or give this one another --state-dir',
    );
  }
}

/** `starttime`, field 22 of a /proc/<pid>/stat line. Pure. The command (field 2) may hold spaces and parentheses: fields are counted after its last ')'. */
export function parseStatStartTime(text: string, source: string): string {
  const close = text.lastIndexOf(')');
  // Field 3 (state) is the first after ") "; field 22 is 19 further.
  const v = close < 0 ? undefined : text.slice(close + 2).split(' ')[19];
  if (v === undefined || !/^\d+$/.test(v)) throw new ParseError(source, `no start time (field 22) in ${JSON.stringify(text.slice(0, 120))}`);
  return v;
}

/** The lock file's text. Pure. */
export function serializeLockOwner(o: LockOwner): string {
  return `${JSON.stringify({ pid: o.pid, start_time: o.startTime, boot_id: o.bootId })}\n`;
}

/** A lock file's owner; undefined when the text is not a whole lock (not ours to trust). Pure. */
export function parseLockOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const { pid, start_time: startTime, boot_id: bootId } = o;
    if (typeof pid === 'number' && Number.isSafeInteger(pid) && typeof startTime === 'string' && typeof bootId === 'string') return { pid, startTime, bootId };
  } catch {
    // Not JSON: a lock from something else, or damaged; treated as stale.
  }
  return undefined;
}

/** The process `pid` as the lock would name it now; undefined when there is no such process. */
function ownerNow(proc: string, pid: number, bootId: string): LockOwner | undefined {
  const file = join(proc, String(pid), 'stat');
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return undefined;
    throw err;
  }
  return { pid, startTime: parseStatStartTime(text, file), bootId };
}

const sameOwner = (a: LockOwner, b: LockOwner) => a.pid === b.pid && a.startTime === b.startTime && a.bootId === b.bootId;

/** A breaker older than this was left by a daemon that died while removing a stale lock. */
const BREAKER_STALE_MS = 10_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Remove the lock file only if it still holds `staleText`. Two daemons that found the same stale
 * lock would otherwise both remove it, the second removing the first one's new lock, and both
 * would run. So the comparison and the unlink happen while holding `<lock>.break`, a directory
 * (mkdir(2) is atomic): one remover at a time, and the second finds the text changed.
 */
function removeStale(file: string, staleText: string): void {
  const breaker = `${file}.break`;
  for (let waited = 0; ; waited += 10) {
    try {
      mkdirSync(breaker);
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    let age: number;
    try {
      age = Date.now() - statSync(breaker).mtimeMs;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    if (age > BREAKER_STALE_MS) {
      try {
        rmdirSync(breaker);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      continue;
    }
    if (waited >= 2_000) throw new OomwatchError('EBUSY', `${breaker} is held: another oomwatch daemon is taking over this state directory's stale lock; if none is running, remove ${breaker}`);
    sleepSync(10);
  }
  try {
    let now: string | undefined;
    try {
      now = readFileSync(file, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (now === staleText) unlinkSync(file);
  } finally {
    rmdirSync(breaker);
  }
}

export class StateDirLock {
  private constructor(
    readonly file: string,
    private readonly owner: LockOwner,
  ) {}

  /**
   * Take the state directory for this process. Throws StateDirLockedError when a running daemon
   * holds it; returns null when the directory cannot be written (the daemon then keeps no state,
   * which the state journal reports), so there is nothing to share. `as.pid` is this process's pid
   * (another one's only in tests, which also use `as.onStale` to run a second daemon's acquire at
   * the moment this one has found the lock stale).
   */
  static acquire(stateDir: string, proc = '/proc', as: { pid?: number; onStale?: () => void } = {}): StateDirLock | null {
    const pid = as.pid ?? process.pid;
    const file = join(stateDir, 'daemon.lock');
    const bootId = readFileSync(join(proc, 'sys/kernel/random/boot_id'), 'latin1').trim();
    const me = ownerNow(proc, pid, bootId);
    if (me === undefined) throw new OomwatchError('EIO', `cannot read ${join(proc, String(pid), 'stat')}: is ${proc} mounted?`);
    // The whole text goes in a file of its own, then link(2) gives it the lock's name: atomic,
    // and EEXIST when the lock is there. A reader never sees a lock half written.
    const mine = `${file}.${pid}`;
    try {
      mkdirSync(stateDir, { recursive: true, mode: 0o755 });
      writeFileSync(mine, serializeLockOwner(me), { mode: 0o644 });
    } catch (err) {
      if (!isErrno(err, 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR')) throw err;
      StateDirLock.check(file, proc, bootId, pid);
      return null;
    }
    try {
      // Three times at most: after a stale lock was removed, another daemon may have linked its
      // own first; the check then names it.
      for (let i = 0; i < 3; i++) {
        try {
          linkSync(mine, file);
          return new StateDirLock(file, me);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
        }
        const stale = StateDirLock.check(file, proc, bootId, pid);
        as.onStale?.();
        if (stale !== undefined) removeStale(file, stale);
      }
      throw new OomwatchError('EBUSY', `cannot take ${file}: it came back each time it was removed as stale; is another oomwatch daemon starting with --state-dir ${stateDir}?`);
    } finally {
      unlinkSync(mine);
    }
  }

  /**
   * Throw StateDirLockedError when the lock file names a process that still runs; otherwise return
   * the stale lock's text (undefined when there is no lock file to remove).
   */
  private static check(file: string, proc: string, bootId: string, pid: number): string | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'EACCES')) return undefined;
      throw err;
    }
    const owner = parseLockOwner(text);
    if (owner === undefined || owner.bootId !== bootId || owner.pid === pid) return text;
    const now = ownerNow(proc, owner.pid, bootId);
    if (now !== undefined && sameOwner(now, owner)) throw new StateDirLockedError(file, owner);
    return text;
  }

  /** Remove the lock, if it is still this process's. */
  release(): void {
    try {
      const owner = parseLockOwner(readFileSync(this.file, 'utf8'));
      if (owner !== undefined && sameOwner(owner, this.owner)) unlinkSync(this.file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
}
