import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParseError } from '../../src/errors.js';
import { StateDirLock, StateDirLockedError, parseLockOwner, parseStatStartTime, serializeLockOwner } from '../../src/daemon/stateLock.js';

const BOOT = '5c4b8f3e-0000-4000-8000-000000000001';
/** A /proc/<pid>/stat line whose command has spaces and parentheses, start time `start`. */
const stat = (pid: number, start: number) => `${pid} (a (b) c) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 ${start} 1000 200 18446744073709551615\n`;

/** A fake /proc: the boot id, this process's stat, and the given others. */
function fakeProc(others: Record<number, number> = {}): { proc: string; state: string; remove: () => void } {
  const top = mkdtempSync(join(tmpdir(), 'oomwatch-lock-'));
  const proc = join(top, 'proc');
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
  for (const [pid, start] of Object.entries({ ...others, [process.pid]: 777 })) {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'stat'), stat(Number(pid), start));
  }
  return { proc, state: join(top, 'state'), remove: () => rmSync(top, { recursive: true, force: true }) };
}

const lockWith = (state: string, pid: number, startTime: string, bootId = BOOT) => {
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'daemon.lock'), serializeLockOwner({ pid, startTime, bootId }));
};

test('parseStatStartTime takes field 22, counting after the last parenthesis of the command', () => {
  assert.equal(parseStatStartTime(stat(42, 123456), 'stat'), '123456');
  assert.throws(() => parseStatStartTime('42 (x) S 1 2', '/proc/42/stat'), ParseError);
  assert.deepEqual(parseLockOwner(serializeLockOwner({ pid: 7, startTime: '9', bootId: BOOT })), { pid: 7, startTime: '9', bootId: BOOT });
  assert.equal(parseLockOwner('{"pid":7'), undefined);
});

test('a running daemon holds the directory: the second is refused with its pid, and nothing of the first is touched', () => {
  const f = fakeProc({ 4242: 555 });
  try {
    lockWith(f.state, 4242, '555');
    const before = readFileSync(join(f.state, 'daemon.lock'), 'utf8');
    assert.throws(() => StateDirLock.acquire(f.state, f.proc), (err: unknown) => err instanceof StateDirLockedError && err.owner.pid === 4242 && /pid 4242/.test(err.message) && err.exitCode === 1);
    assert.equal(readFileSync(join(f.state, 'daemon.lock'), 'utf8'), before);
    assert.deepEqual(readdirSync(f.state), ['daemon.lock'], 'no file left behind');
  } finally {
    f.remove();
  }
});

for (const [why, pid, start, boot] of [
  ['its process is gone (kill -9)', 4343, '555', BOOT],
  ['its pid now belongs to a process started at another time', 4242, '554', BOOT],
  ['it is from another boot', 4242, '555', '00000000-0000-4000-8000-000000000000'],
] as const) {
  test(`a stale lock does not block: ${why}`, () => {
    const f = fakeProc({ 4242: 555 });
    try {
      lockWith(f.state, pid, start, boot);
      const lock = StateDirLock.acquire(f.state, f.proc);
      assert.ok(lock !== null);
      assert.deepEqual(parseLockOwner(readFileSync(join(f.state, 'daemon.lock'), 'utf8')), { pid: process.pid, startTime: '777', bootId: BOOT });
      lock.release();
      assert.equal(existsSync(join(f.state, 'daemon.lock')), false, 'released');
    } finally {
      f.remove();
    }
  });
}

test('release leaves a lock that another daemon took since', () => {
  const f = fakeProc({ 4242: 555 });
  try {
    const lock = StateDirLock.acquire(f.state, f.proc)!;
    lockWith(f.state, 4242, '555');
    lock.release();
    assert.equal(parseLockOwner(readFileSync(join(f.state, 'daemon.lock'), 'utf8'))?.pid, 4242);
  } finally {
    f.remove();
  }
});

test('two daemons that find the same stale lock: the one that removes it second leaves the first one\'s new lock and is refused', () => {
  const f = fakeProc({ 5001: 100, 5002: 200 });
  try {
    lockWith(f.state, 4343, '555'); // a daemon killed with -9
    let second: StateDirLock | null = null;
    // Daemon 5001 has found the lock stale; before it removes it, daemon 5002 finds it stale too,
    // removes it and takes the directory.
    const onStale = () => {
      if (second === null) second = StateDirLock.acquire(f.state, f.proc, { pid: 5002 });
    };
    assert.throws(
      () => StateDirLock.acquire(f.state, f.proc, { pid: 5001, onStale }),
      (err: unknown) => err instanceof StateDirLockedError && err.owner.pid === 5002,
    );
    assert.ok(second !== null, 'the second daemon took the directory');
    assert.deepEqual(parseLockOwner(readFileSync(join(f.state, 'daemon.lock'), 'utf8')), { pid: 5002, startTime: '200', bootId: BOOT });
    assert.deepEqual(readdirSync(f.state), ['daemon.lock'], 'no temporary file or breaker left behind');
  } finally {
    f.remove();
  }
});

test('a breaker left by a daemon that died while removing a stale lock is itself stale after 10 s', () => {
  const f = fakeProc();
  try {
    lockWith(f.state, 4343, '555');
    mkdirSync(join(f.state, 'daemon.lock.break'));
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(f.state, 'daemon.lock.break'), old, old);
    const lock = StateDirLock.acquire(f.state, f.proc);
    assert.ok(lock !== null);
    assert.deepEqual(readdirSync(f.state), ['daemon.lock']);
    lock.release();
  } finally {
    f.remove();
  }
});
