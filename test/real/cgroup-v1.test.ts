import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty, oomControl } from '../helpers/v1cgroup.js';
import { oomwatch, oomwatchAsync, BIN } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

const M = 2 ** 20;
const made: string[] = [];
function name(label: string): string {
  const n = uniqueTestName(label);
  made.push(join(V1_MEMORY_MOUNT, n.split('/').slice(0, 2).join('/')));
  return n;
}
const file = (n: string, f: string) => readFileSync(join(V1_MEMORY_MOUNT, n, f), 'utf8').trim();

describe('oomwatch cgroup on the real v1 memory controller', realKernel(), () => {
  after(async () => {
    for (const dir of made) await removeCgroupTree(dir);
    removePrefixIfEmpty();
  });

  test('create --memory 64M makes the directory and writes memory.limit_in_bytes', () => {
    const n = name('create');
    const r = oomwatch(['cgroup', 'create', `${n}/inner`, '--memory', '64M', '--memory-low', '16M']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /created \/oomwatch-test\/.*\/inner \(cgroup v1/);
    assert.match(r.stdout, /limits applied \(memory\.limit_in_bytes=64\.0M memory\.soft_limit_in_bytes=16\.0M\)$/m);
    assert.equal(file(`${n}/inner`, 'memory.limit_in_bytes'), String(64 * M));
    assert.equal(file(`${n}/inner`, 'memory.soft_limit_in_bytes'), String(16 * M));
    const again = oomwatch(['cgroup', 'create', `${n}/inner`, '--memory', '32M']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^exists:/);
    assert.equal(file(`${n}/inner`, 'memory.limit_in_bytes'), String(32 * M));
  });

  test('exec: a hog is OOM-killed, exit 137, the message names the cgroup and limit, show counts it', () => {
    const n = name('exec-oom');
    const r = oomwatch(['cgroup', 'exec', n, '--memory', '64M', '--', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1']);
    assert.equal(r.status, 137, r.stderr);
    assert.match(r.stderr, new RegExp(`dd \\(pid \\d+\\) was killed by the kernel's OOM killer in cgroup /${n} \\(limit 64\\.0M, cgroup v1\\)`));
    assert.equal(oomControl(join(V1_MEMORY_MOUNT, n))['oom_kill'], 1, 'the kernel counted one kill');
    const show = oomwatch(['cgroup', 'show', n, '--json']);
    assert.equal(show.status, 0, show.stderr);
    const s = JSON.parse(show.stdout);
    assert.equal(s.events.oom_kill, 1);
    assert.ok(s.events.max > 0, 'failcnt rose');
    assert.equal(s.max, 64 * M);
    assert.equal(s.peak, 64 * M);
    assert.deepEqual(s.pids, []);
  });

  test('exec runs the command inside the cgroup from its first instruction and passes its exit status', () => {
    const n = name('exec-in');
    const r = oomwatch(['cgroup', 'exec', n, '--', 'sh', '-c', 'grep memory /proc/self/cgroup; exit 3']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, new RegExp(`:memory:/${n}$`, 'm'));
    assert.equal(r.stderr, '');
    const cat = oomwatch(['cgroup', 'exec', n, '--', 'cat', '/proc/self/cgroup']);
    assert.match(cat.stdout, new RegExp(`:memory:/${n}$`, 'm'), 'the exec-ed program itself, not only a shell, is inside');
  });

  test('exec of a command that does not exist: exit 127, one line naming it; the cgroup made for it is gone, one that was there stays', () => {
    const n = name('exec-nocmd');
    const r = oomwatch(['cgroup', 'exec', `${n}/fresh`, '--memory', '64M', '--', 'nosuchcmd-oomwatch', '--flag']);
    assert.equal(r.status, 127);
    assert.equal(r.stderr, 'oomwatch: cgroup exec: nosuchcmd-oomwatch: command not found\n');
    assert.equal(r.stdout, '');
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, n)), false, 'neither the cgroup nor its new parent was left behind');
    assert.equal(oomwatch(['cgroup', 'create', n, '--memory', '32M']).status, 0);
    const again = oomwatch(['cgroup', 'exec', n, '--', 'nosuchcmd-oomwatch']);
    assert.equal(again.status, 127);
    assert.equal(again.stderr, 'oomwatch: cgroup exec: nosuchcmd-oomwatch: command not found\n');
    assert.ok(existsSync(join(V1_MEMORY_MOUNT, n)), 'a cgroup that existed before the run stays');
    assert.equal(file(n, 'memory.limit_in_bytes'), String(32 * M), 'and keeps its limit');
  });

  test('a name component over 255 bytes is refused with exit 2 though this cgroupfs would create it', () => {
    const n = name('long');
    const long = 'é'.repeat(128); // 256 bytes in UTF-8, 128 characters
    const r = oomwatch(['cgroup', 'create', `${n}/${long}`, '--memory', '64M']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`the component "${long}" is 256 bytes; a cgroup name component may have at most 255 bytes`));
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, n)), false, 'nothing created');
    const ok = oomwatch(['cgroup', 'create', `${n}/${'é'.repeat(127)}x`]);
    assert.equal(ok.status, 0, ok.stderr);
  });

  test('exec passes SIGTERM to the command and exits 128+15', async () => {
    const n = name('exec-sig');
    const child = spawn(process.execPath, [BIN, 'cgroup', 'exec', n, '--', 'sleep', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const pids = join(V1_MEMORY_MOUNT, n, 'cgroup.procs');
    const inside = await until('a process in the cgroup', () => (existsSync(pids) ? readFileSync(pids, 'utf8').trim() : ''), (p) => p !== '', { timeoutMs: 5000 });
    // Let the shell exec sleep before the signal lands (then comm is "sleep").
    await until(`pid ${inside} to exec sleep`, () => readFileSync(`/proc/${inside}/comm`, 'utf8').trim(), (c) => c === 'sleep', { timeoutMs: 5000 });
    const status = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await status, 143);
  });

  test('set changes limits; --swap is swap only (memsw = memory + swap), kept when only --memory changes', () => {
    const n = name('set');
    assert.equal(oomwatch(['cgroup', 'create', n, '--memory', '64M']).status, 0);
    let r = oomwatch(['cgroup', 'set', n, '--memory', '32M', '--swap', '16M']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(file(n, 'memory.limit_in_bytes'), String(32 * M));
    assert.equal(file(n, 'memory.memsw.limit_in_bytes'), String(48 * M));
    r = oomwatch(['cgroup', 'set', n, '--memory', '128M']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(file(n, 'memory.limit_in_bytes'), String(128 * M));
    assert.equal(file(n, 'memory.memsw.limit_in_bytes'), String(144 * M));
    r = oomwatch(['cgroup', 'set', n, '--memory', 'max', '--swap', 'max']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(oomwatch(['cgroup', 'show', n, '--json']).stdout).max, null);
    r = oomwatch(['cgroup', 'set', n, '--no-oom-kill']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(file(n, 'memory.oom_control'), /oom_kill_disable 1/);
  });

  test('set: v2-only knobs exit 2; a missing cgroup exit 1; a value the kernel refuses names the file', () => {
    const n = name('set-err');
    assert.equal(oomwatch(['cgroup', 'create', n]).status, 0);
    const high = oomwatch(['cgroup', 'set', n, '--memory-high', '1G']);
    assert.equal(high.status, 2);
    assert.match(high.stderr, /--memory-high: not supported on cgroup v1/);
    const group = oomwatch(['cgroup', 'set', n, '--oom-group']);
    assert.equal(group.status, 2);
    const missing = oomwatch(['cgroup', 'set', `${n}/nope`, '--memory', '1M']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /does not exist/);
  });

  test('create with a v2-only knob writes nothing', () => {
    const n = name('create-none');
    const r = oomwatch(['cgroup', 'create', n, '--memory', '64M', '--memory-high', '32M']);
    assert.equal(r.status, 2);
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, n)), false);
  });

  test('classify moves a process in; a bad PID is reported and the rest still moved', async () => {
    const n = name('classify');
    assert.equal(oomwatch(['cgroup', 'create', n]).status, 0);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const r = await oomwatchAsync(['cgroup', 'classify', n, '999999999', String(sleeper.pid)]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /pid 999999999 .*no such process/);
      assert.match(r.stdout, new RegExp(`moved ${sleeper.pid} into /${n}`));
      assert.match(readFileSync(`/proc/${sleeper.pid}/cgroup`, 'utf8'), new RegExp(`:memory:/${n}$`, 'm'));
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  test('rm refuses a populated cgroup, rm --force kills its processes and removes the tree', async () => {
    const n = name('rm');
    assert.equal(oomwatch(['cgroup', 'create', `${n}/child`]).status, 0);
    const sleepers = [spawn('sleep', ['30'], { stdio: 'ignore' }), spawn('sleep', ['30'], { stdio: 'ignore' })];
    const exits = sleepers.map((s) => new Promise((r) => s.on('exit', (_c, sig) => r(sig))));
    assert.equal((await oomwatchAsync(['cgroup', 'classify', n, String(sleepers[0]?.pid)])).status, 0);
    assert.equal((await oomwatchAsync(['cgroup', 'classify', `${n}/child`, String(sleepers[1]?.pid)])).status, 0);
    const refused = await oomwatchAsync(['cgroup', 'rm', n]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /still has 1 process\(es\).*--force/);
    assert.ok(existsSync(join(V1_MEMORY_MOUNT, n)));
    const r = await oomwatchAsync(['cgroup', 'rm', n, '--force']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await Promise.all(exits), ['SIGKILL', 'SIGKILL']);
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, n)), false);
  });

  test('names that escape the hierarchy are refused with exit 2 and nothing is created', () => {
    for (const bad of ['../escape', 'oomwatch-test/../../x', 'oomwatch-test/memory.limit_in_bytes', '//etc']) {
      const r = oomwatch(['cgroup', 'create', bad, '--memory', '1M']);
      assert.equal(r.status, 2, bad);
    }
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, '..', 'escape')), false);
  });

  test('not root: a clear permission error, exit 1', () => {
    const n = name('nonroot');
    const r = spawnSync(process.execPath, [BIN, 'cgroup', 'create', n], { encoding: 'utf8', uid: 65534, gid: 65534 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /permission denied; run as root/);
    assert.equal(existsSync(join(V1_MEMORY_MOUNT, n)), false);
  });
});
