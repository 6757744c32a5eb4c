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
import { requireRealKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty } from '../helpers/v1cgroup.js';

const UNIT = join(TOP, 'systemd', 'oomwatch.service');
const shipped = readFileSync(UNIT, 'utf8');
const binDir = mkdtempSync(join(tmpdir(), 'oomwatch-unit-bin-'));
symlinkSync(BIN, join(binDir, 'oomwatch'));
const copies = mkdtempSync(join(tmpdir(), 'oomwatch-unit-'));
const probeCgroups: string[] = [];

/**
 * What the daemon does with its privileges, done by a child process that runs as root with
 * only the capabilities `caps` (setpriv --bounding-set; on exec root keeps only those): read a
 * record from /dev/kmsg, create a v1 memory cgroup and set its limit, read another process's
 * /proc/<pid>/cgroup and /proc/vmstat. Prints one JSON object: "ok" or the errno code per step.
 */
function probe(caps: string[]): Record<string, string> {
  const name = uniqueTestName('capprobe');
  probeCgroups.push(join(V1_MEMORY_MOUNT, name));
  const script = `
    const fs = require('node:fs');
    const out = {};
    const step = (k, f) => { try { f(); out[k] = 'ok'; } catch (e) { out[k] = e.code ?? String(e); } };
    step('kmsg', () => {
      const fd = fs.openSync('/dev/kmsg', fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try { fs.readSync(fd, Buffer.alloc(8192)); } finally { fs.closeSync(fd); }
    });
    step('cgroup', () => {
      fs.mkdirSync(process.argv[1], { recursive: true });
      fs.writeFileSync(process.argv[1] + '/memory.limit_in_bytes', String(64 * 2 ** 20));
      if (fs.readFileSync(process.argv[1] + '/memory.limit_in_bytes', 'utf8').trim() !== String(64 * 2 ** 20)) throw new Error('limit not set');
    });
    step('proc', () => { fs.readFileSync('/proc/1/cgroup'); fs.readFileSync('/proc/vmstat'); });
    process.stdout.write(JSON.stringify(out));`;
  const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  const r = spawnSync('setpriv', [`--bounding-set=${bounding}`, '--inh-caps=-all', '--', process.execPath, '-e', script, join(V1_MEMORY_MOUNT, name)], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

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
  after(async () => {
    rmSync(binDir, { recursive: true, force: true });
    rmSync(copies, { recursive: true, force: true });
    for (const dir of probeCgroups) await removeCgroupTree(dir);
    removePrefixIfEmpty();
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
    // systemd's own reading of the sandbox: 2.6 of 10 (deploy/README.md says which settings stay off).
    const sec = analyze(['security', '--offline=true', '--threshold=26', UNIT]);
    assert.equal(sec.status, 0, `${sec.stdout}${sec.stderr}`);
    assert.match(sec.stdout, /✓ CapabilityBoundingSet=~CAP_SYS_ADMIN/);
    assert.match(sec.stdout, /✓ CapabilityBoundingSet=~CAP_KILL/);
    assert.match(sec.stdout, /✓ SystemCallFilter=~@privileged/);
    assert.match(sec.stdout, /✓ SystemCallFilter=~@resources/);
    assert.match(sec.stdout, /✓ ProtectKernelTunables=/);
    assert.match(sec.stdout, /✓ PrivateMounts=/);
    assert.match(sec.stdout, /✓ RestrictAddressFamilies=~AF_UNIX/);
    assert.match(sec.stdout, /Overall exposure level for oomwatch\.service: (2\.[0-6]|[01]\.\d)\b/);
  });

  test("the unit's capability bounding set is enough, and CAP_SYSLOG is needed (real kernel)", (t) => {
    if (!requireRealKernel(t) || !requireTools(t, 'setpriv')) return;
    const line = shipped.split('\n').find((l) => l.startsWith('CapabilityBoundingSet='));
    const caps = (line ?? '').slice('CapabilityBoundingSet='.length).split(/\s+/).filter(Boolean);
    assert.deepEqual(probe(caps), { kmsg: 'ok', cgroup: 'ok', proc: 'ok' });
    // Without CAP_SYSLOG, /dev/kmsg is refused (kernel.dmesg_restrict=1 here); the rest needs
    // no capability at all for root (the cgroup files are root's own).
    assert.deepEqual(probe(caps.filter((c) => c !== 'CAP_SYSLOG')), { kmsg: 'EPERM', cgroup: 'ok', proc: 'ok' });
    assert.deepEqual(probe([]), { kmsg: 'EPERM', cgroup: 'ok', proc: 'ok' });
  });
});
