/**
 * One daemon per state directory: `<state_dir>/daemon.lock` names the daemon that holds it by pid,
 * the process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot) and the boot id.
 * A lock whose process is gone, or whose pid now belongs to a process started at another time
 * (pid reuse), or from another boot, is stale: a daemon killed with SIGKILL never blocks the
 * next one. Nothing is ever signalled to find out. The files read are this host's real /proc, not
 * the injected roots (those describe the observed host; the lock is about this one).
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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

export class StateDirLock {
  private constructor(
    readonly file: string,
    private readonly owner: LockOwner,
  ) {}

  /**
   * Take the state directory for this process. Throws StateDirLockedError when a running daemon
   * holds it; returns null when the directory cannot be written (the daemon then keeps no state,
   * which the state journal reports), so there is nothing to share.
   */
  static acquire(stateDir: string, proc = '/proc'): StateDirLock | null {
    const file = join(stateDir, 'daemon.lock');
    const bootId = readFileSync(join(proc, 'sys/kernel/random/boot_id'), 'latin1').trim();
    const me = ownerNow(proc, process.pid, bootId);
    if (me === undefined) throw new OomwatchError('EIO', `cannot read ${join(proc, String(process.pid), 'stat')}: is ${proc} mounted?`);
    // The whole text goes in a file of its own, then link(2) gives it the lock's name: atomic,
    // and EEXIST when the lock is there. A reader never sees a lock half written.
    const mine = `${file}.${process.pid}`;
    try {
      mkdirSync(stateDir, { recursive: true, mode: 0o755 });
      writeFileSync(mine, serializeLockOwner(me), { mode: 0o644 });
    } catch (err) {
      if (!isErrno(err, 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR')) throw err;
      StateDirLock.check(file, proc, bootId);
      return null;
    }
    try {
      // Twice at most: the second time after a stale lock was removed.
      for (let i = 0; i < 2; i++) {
        try {
          linkSync(mine, file);
          return new StateDirLock(file, me);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
        }
        StateDirLock.check(file, proc, bootId);
        // Stale. (Two daemons that find the same stale lock at the same instant could both
        // remove it; the second unlink would then remove the first one's new lock.)
        try {
          unlinkSync(file);
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
      linkSync(mine, file);
      return new StateDirLock(file, me);
    } finally {
      unlinkSync(mine);
    }
  }

  /** Throw StateDirLockedError when the lock file names a process that still runs. */
  private static check(file: string, proc: string, bootId: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'EACCES')) return;
      throw err;
    }
    const owner = parseLockOwner(text);
    if (owner === undefined || owner.bootId !== bootId || owner.pid === process.pid) return;
    const now = ownerNow(proc, owner.pid, bootId);
    if (now !== undefined && sameOwner(now, owner)) throw new StateDirLockedError(file, owner);
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
