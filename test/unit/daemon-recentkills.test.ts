import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { OomwatchError } from '../../src/errors.js';
import {
  RecentKills, loadRecentKills, parseRecentKills, readRecentKills, recentKillsFile, serializeRecordedKill, type RecordedKill,
} from '../../src/daemon/recentKills.js';
import { foundLabel, killsTable, selectKills } from '../../src/cli/kills.js';
import { killEvent } from '../helpers/events.js';

const BOOT = 'b1d7f0c2-1111-4222-8333-944455556666';
const OTHER_BOOT = 'b1d7f0c2-2222-4222-8333-944455556666';
const T0 = Date.parse('2026-12-01T03:00:00.000Z');
const NAMES: RecordedKill['names'] = { namespace: null, pod: null, container: null, image: null, container_name: null, limit: 'own', main_process: null };

/** A kill of pid (its SEQ is the pid) found `foundAfterMs` after it happened at `atMs`. */
function kill(pid: number, atMs = T0 + pid * 1000, foundAfterMs = 3): RecordedKill {
  return { event: { ...killEvent(pid, '/batch'), kill_time: new Date(atMs).toISOString() }, names: NAMES, detected_at: new Date(atMs + foundAfterMs).toISOString() };
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-kills-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function logger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }), lines };
}

const pids = (dir: string): number[] => readRecentKills(dir).map((k) => k.event.pid);
const fileLines = (dir: string): string[] => readFileSync(recentKillsFile(dir), 'utf8').split('\n').filter((l) => l !== '');

test('each kill is one line appended; read back oldest first as it was recorded; the file is created 0644 at open', () =>
  withDir((dir) => {
    assert.deepEqual(readRecentKills(dir), [], 'no file yet: none recorded');
    const r = new RecentKills(dir, { keep: 100, maxAgeMs: 86_400_000 }, logger().log, () => T0);
    r.open();
    assert.equal(statSync(recentKillsFile(dir)).mode & 0o777 & ~0o644, 0, 'at most rw-r--r--, as state.jsonl');
    assert.deepEqual(readRecentKills(dir), []);
    const a = { ...kill(1), names: { ...NAMES, namespace: 'shop', pod: 'web-0', container: 'app', image: 'nginx:1', container_name: null, limit: 'container' as const, main_process: true } };
    assert.equal(r.record(BOOT, a), true);
    assert.equal(r.record(BOOT, kill(2)), true);
    r.close();
    assert.deepEqual(readRecentKills(dir), [a, kill(2)]);
    assert.deepEqual(JSON.parse(fileLines(dir)[0] as string), { boot_id: BOOT, detected_at: a.detected_at, names: a.names, event: a.event });
  }));

test('a kill found again (same boot id and SEQ) is not recorded twice, also by the next run; another boot\'s SEQ is another kill', () =>
  withDir((dir) => {
    const bound = { keep: 100, maxAgeMs: 86_400_000 };
    const first = new RecentKills(dir, bound, logger().log, () => T0);
    first.open();
    assert.equal(first.record(BOOT, kill(5)), true);
    assert.equal(first.record(BOOT, kill(5, T0 + 5000, 60_000)), false);
    first.close();
    // The daemon restarted: what the file holds is known again before the kernel log is read.
    const second = new RecentKills(dir, bound, logger().log, () => T0);
    second.open();
    assert.equal(second.record(BOOT, kill(5, T0 + 5000, 90_000)), false);
    assert.equal(second.record(OTHER_BOOT, kill(5)), true);
    // Without a SEQ there is no key: recorded as it comes.
    const noSeq = { ...kill(6), event: { ...kill(6).event, seq: null } };
    assert.equal(second.record(BOOT, noSeq), true);
    second.close();
    assert.equal(fileLines(dir).length, 3);
    assert.deepEqual(readRecentKills(dir).map((k) => [k.event.pid, k.detected_at]), [[5, kill(5).detected_at], [5, kill(5).detected_at], [6, kill(6).detected_at]]);
  }));

test('a last line cut short by a crash is passed over and counted; the next open drops it and appends whole lines', () =>
  withDir((dir) => {
    const file = recentKillsFile(dir);
    writeFileSync(file, serializeRecordedKill(BOOT, kill(1)) + serializeRecordedKill(BOOT, kill(2)) + serializeRecordedKill(BOOT, kill(3)).slice(0, 80));
    const read = loadRecentKills(dir);
    assert.deepEqual([read.kills.map((k) => k.event.pid), read.skipped], [[1, 2], 1]);
    const { log, lines } = logger();
    const r = new RecentKills(dir, { keep: 100, maxAgeMs: 86_400_000 }, log, () => T0);
    r.open();
    assert.deepEqual(lines.filter((l) => l['event'] === 'kills_record_skipped').map((l) => l['lines']), [1]);
    // The kill whose line was cut was not saved as done: found again, it is recorded whole.
    assert.equal(r.record(BOOT, kill(3)), true);
    r.close();
    assert.deepEqual(loadRecentKills(dir).skipped, 0);
    assert.deepEqual(pids(dir), [1, 2, 3]);
    // A whole last line that only misses its newline is a kill; the next append starts a line of its own.
    writeFileSync(file, serializeRecordedKill(BOOT, kill(4)).trimEnd());
    const again = new RecentKills(dir, { keep: 100, maxAgeMs: 86_400_000 }, log, () => T0);
    again.open();
    assert.equal(again.record(BOOT, kill(4)), false);
    assert.equal(again.record(BOOT, kill(5)), true);
    again.close();
    assert.deepEqual([pids(dir), loadRecentKills(dir).skipped], [[4, 5], 0]);
  }));

test('a record written by another version (keys this one does not know, names it lacks) is read; a line that is no record is passed over', () => {
  const newer = JSON.stringify({ boot_id: BOOT, detected_at: kill(1).detected_at, names: { namespace: 'shop', node: 'n1' }, event: kill(1).event, story: { why: 'x' } });
  const { kills, skipped } = parseRecentKills(`${newer}\n{"event":{"pid":"x"}}\n[1]\nnot json\n${serializeRecordedKill(BOOT, kill(2))}`);
  assert.equal(skipped, 3);
  assert.deepEqual(kills.map((k) => k.event.pid), [1, 2]);
  assert.deepEqual(kills[0]?.names, { namespace: 'shop', pod: null, container: null, image: null, container_name: null, limit: null, main_process: null });
  assert.deepEqual(Object.keys(kills[0] as object), ['event', 'names', 'detected_at']);
});

test('bounded: past keep (and its slack) the file is rewritten with the last kills; kills older than max_age are dropped', () =>
  withDir((dir) => {
    let now = T0;
    const r = new RecentKills(dir, { keep: 20, maxAgeMs: 3_600_000 }, logger().log, () => now);
    r.open();
    // keep 20, rewritten once more than 20 + 10 are there.
    for (let pid = 1; pid <= 30; pid++) r.record(BOOT, kill(pid, T0));
    r.maintain();
    assert.equal(fileLines(dir).length, 30, 'within the slack: not rewritten');
    r.record(BOOT, kill(31, T0));
    r.maintain();
    assert.deepEqual(pids(dir), Array.from({ length: 20 }, (_, i) => i + 12), 'the last 20');
    // Appends go on in the rewritten file; the keys of what was dropped are forgotten with it.
    assert.equal(r.record(BOOT, kill(31, T0)), false);
    assert.equal(r.record(BOOT, kill(32, T0 + 600_000)), true);
    // Once the kills found at T0 (+3 ms) are older than an hour (the age) and its slack (6 min, a
    // tenth), they go; the one found 10 min later stays.
    now = T0 + 3 + 3_600_000 + 360_000;
    r.maintain();
    assert.equal(fileLines(dir).length, 21, 'not before');
    now += 1;
    r.maintain();
    assert.deepEqual(pids(dir), [32]);
    r.close();
    // A smaller bound in the config: applied when the daemon opens the file.
    for (let pid = 40; pid < 45; pid++) appendFileSync(recentKillsFile(dir), serializeRecordedKill(BOOT, kill(pid, now)));
    const smaller = new RecentKills(dir, { keep: 2, maxAgeMs: 3_600_000 }, logger().log, () => now);
    smaller.open();
    smaller.close();
    assert.deepEqual(pids(dir), [43, 44]);
  }));

test('a state directory that is not there is an error naming it and the fix; the writer logs its error once and recovers', () =>
  withDir((dir) => {
    const missing = join(dir, 'nope');
    assert.throws(() => readRecentKills(missing), (e: unknown) => e instanceof OomwatchError && e.exitCode === 1 && e.message.includes(missing) && /--state-dir/.test(e.message));
    const { log, lines } = logger();
    const r = new RecentKills(missing, { keep: 10, maxAgeMs: 86_400_000 }, log, () => T0);
    r.open();
    assert.equal(r.record(BOOT, kill(1)), false);
    assert.equal(r.record(BOOT, kill(2)), false);
    assert.match(r.status().error ?? '', /cannot open .*nope\/kills\.jsonl/);
    assert.equal(lines.filter((l) => l['event'] === 'kills_record_error').length, 1, 'logged once');
    // The directory appears: the next kill is recorded.
    mkdirSync(missing);
    assert.equal(r.record(BOOT, kill(3)), true);
    assert.equal(r.status().error, null);
    r.close();
    assert.deepEqual(pids(missing), [3]);
  }));

test('kills: newest last by kill time, --since by kill time; FOUND says how late a kill was found', () => {
  const live = kill(10, T0 + 10_000, 20);
  const afterRestart = kill(5, T0 + 5_000, 125_000);
  const noTime = { ...kill(1), event: { ...kill(1).event, kill_time: null } };
  assert.deepEqual(selectKills([live, afterRestart], undefined, T0 + 20_000).map((k) => k.event.pid), [5, 10]);
  assert.deepEqual(selectKills([live, afterRestart], 12_000, T0 + 20_000).map((k) => k.event.pid), [10]);
  assert.deepEqual([foundLabel(live), foundLabel(afterRestart), foundLabel(noTime)], ['live', '+2m05s', '?']);
  const table = killsTable([afterRestart, live]).split('\n');
  assert.match(table[0] ?? '', /^TIME \(UTC\) +FOUND +PID PROCESS +LIMIT +USAGE\/LIMIT +OWNER +CGROUP$/);
  assert.match(table[1] ?? '', /^2026-12-01T03:00:05\.000Z +\+2m05s +5 hog +own +- +- +\/batch$/);
});
