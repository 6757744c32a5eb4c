/**
 * systemd/oomwatch.service, checked by the real `systemd-analyze` (works here without systemd as
 * PID 1). `verify` also checks that ExecStart's program exists and is executable: the test runs it
 * in a private mount namespace (unshare -m) where /usr/local/bin holds only a symlink to this
 * checkout's bin/oomwatch, which is what README's install step makes on a host. So the shipped file
 * is verified exactly as shipped, and nothing outside the test's namespace changes.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { TOP, BIN } from '../helpers/cli.js';
import { requireTools } from '../helpers/promstack.js';

const UNIT = join(TOP, 'systemd', 'oomwatch.service');
const shipped = readFileSync(UNIT, 'utf8');
const binDir = mkdtempSync(join(tmpdir(), 'oomwatch-unit-bin-'));
symlinkSync(BIN, join(binDir, 'oomwatch'));
const copies = mkdtempSync(join(tmpdir(), 'oomwatch-unit-'));

/** Run `systemd-analyze ARGS...` with /usr/local/bin/oomwatch -> the checkout (private mounts). */
function analyze(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /usr/local/bin && exec systemd-analyze "$@"', binDir, ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `systemd-analyze verify`: exit 0 AND no complaint (it exits 0 on values it ignores). */
function verify(path: string): { clean: boolean; output: string } {
  const r = analyze(['verify', path]);
  return { clean: r.status === 0 && r.stderr.trim() === '' && r.stdout.trim() === '', output: `exit ${r.status}\n${r.stdout}${r.stderr}` };
}

function needs(t: TestContext): boolean {
  if (process.getuid?.() !== 0) {
    if (process.env['CI'] === 'true') throw new Error('cannot run in CI: unshare --mount needs root');
    t.skip('unshare --mount needs root');
    return false;
  }
  return requireTools(t, 'systemd-analyze', 'unshare');
}

function brokenCopy(name: string, from: string | RegExp, to: string): string {
  const text = shipped.replace(from, to);
  assert.notEqual(text, shipped, `the mutation ${String(from)} applies`);
  const path = join(copies, `${name}.service`);
  writeFileSync(path, text);
  return path;
}

describe('systemd/oomwatch.service with the real systemd-analyze', { timeout: 120_000 }, () => {
  after(() => {
    rmSync(binDir, { recursive: true, force: true });
    rmSync(copies, { recursive: true, force: true });
  });

  test('systemd-analyze verify passes on the shipped unit, with no warning', (t) => {
    if (!needs(t)) return;
    const r = verify(UNIT);
    assert.ok(r.clean, r.output);
  });

  test('the check can fail: a missing ExecStart program, a bad value, an unknown key', (t) => {
    if (!needs(t)) return;
    const cases = [
      brokenCopy('no-program', 'ExecStart=/usr/local/bin/oomwatch daemon', 'ExecStart=/usr/local/bin/oomwatch-missing daemon'),
      brokenCopy('bad-type', 'Type=simple', 'Type=sometimes'),
      brokenCopy('bad-oom-score', 'OOMScoreAdjust=-900', 'OOMScoreAdjust=-9000'),
      brokenCopy('unknown-key', 'Restart=on-failure', 'Restartt=on-failure'),
    ];
    for (const path of cases) {
      const r = verify(path);
      assert.equal(r.clean, false, `${path} should be refused:\n${r.output}`);
    }
  });

  test('what the unit promises: the command, root with two capabilities, the watcher dies last', (t) => {
    if (!needs(t)) return;
    const show = (key: string): string[] =>
      shipped.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
    assert.deepEqual(show('ExecStart'), ['/usr/local/bin/oomwatch daemon $OOMWATCH_ARGS']);
    assert.deepEqual(show('Type'), ['simple']);
    assert.deepEqual(show('CapabilityBoundingSet'), ['CAP_SYSLOG CAP_DAC_OVERRIDE']);
    assert.deepEqual(show('NoNewPrivileges'), ['yes']);
    assert.deepEqual(show('ProtectSystem'), ['strict']);
    assert.deepEqual(show('ReadWritePaths'), ['/sys/fs/cgroup']);
    assert.deepEqual(show('StateDirectory'), ['oomwatch']);
    assert.deepEqual(show('Delegate'), ['yes']);
    assert.deepEqual(show('Restart'), ['on-failure']);
    assert.ok(Number(show('OOMScoreAdjust')[0]) <= -900);
    // Settings that would cut the daemon off from its inputs must stay off.
    for (const key of ['ProtectKernelLogs', 'PrivateDevices', 'ProtectControlGroups', 'MemoryDenyWriteExecute']) {
      assert.deepEqual(show(key), [], `${key} is not set`);
    }
    // systemd's own reading of the sandbox: overall exposure at most 4.0 of 10 ("OK").
    const sec = analyze(['security', '--offline=true', '--threshold=40', UNIT]);
    assert.equal(sec.status, 0, `${sec.stdout}${sec.stderr}`);
    assert.match(sec.stdout, /✓ CapabilityBoundingSet=~CAP_SYS_ADMIN/);
    assert.match(sec.stdout, /✓ CapabilityBoundingSet=~CAP_KILL/);
    assert.match(sec.stdout, /Overall exposure level for oomwatch\.service: [0-3]\.\d/);
  });
});
