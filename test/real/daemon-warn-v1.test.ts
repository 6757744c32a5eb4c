/**
 * Early warnings on the real v1 kernel: a steady leak is warned seconds before the kernel kills it,
 * a cgroup full of page cache is not warned at all, and the hooks run on a warning and on a kill
 * with the right data; a hook that hangs is killed at its timeout while kills go on being counted.
 */
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realKernel, V1_MEMORY_MOUNT } from '../helpers/privileged.js';
import { uniqueTestName, removeCgroupTree, removePrefixIfEmpty, spawnInCgroup, exited, HOG } from '../helpers/v1cgroup.js';
import { startDaemon, tempDir, type DaemonProcess, type LogLine } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { EARLY_WARNINGS, leakArgv } from '../helpers/leak.js';

const M = 2 ** 20;
const PYTHON = '/usr/bin/python3';

const made: string[] = [];
function cgroup(label: string, limit: number): { name: string; path: string; dir: string } {
  const name = uniqueTestName(label);
  const dir = join(V1_MEMORY_MOUNT, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limit));
  made.push(dir);
  return { name, path: `/${name}`, dir };
}

/** Run the leak in the cgroup until the kernel kills it; the exit's wall time and the pid. */
async function leakUntilKilled(dir: string, mibPerS = 8): Promise<{ pid: number; killedAt: number; startedAt: number }> {
  const startedAt = Date.now();
  const child = spawnInCgroup(dir, leakArgv(mibPerS));
  const r = await exited(child);
  const killedAt = Date.now();
  assert.equal(r.signal, 'SIGKILL', `the leak in ${dir} was OOM-killed`);
  return { pid: child.pid as number, killedAt, startedAt };
}

const of = (cg: string) => (l: LogLine) => l['cgroup'] === cg;

describe('early warnings on the real v1 kernel', realKernel(), () => {
  const state = tempDir('warn');
  const hookDir = join(state.dir, 'hooks');
  mkdirSync(hookDir, { recursive: true });
  // Each run writes its stdin and its OOMWATCH_* environment to files named after its kind and pid.
  const recorder = (kind: string) => [
    '/bin/sh', '-c', 'cat > "$1/$2-$$.json"; env | grep ^OOMWATCH_ | sort > "$1/$2-$$.env"', 'hook', hookDir, kind,
  ];
  let d: DaemonProcess;

  before(async () => {
    // The defaults of every warn setting, and the default poll interval (1 s).
    d = await startDaemon({
      stateDir: state.dir,
      pollInterval: '1s',
      config: `hooks:\n  warning: {argv: ${JSON.stringify(recorder('warning'))}, timeout: 10s}\n  kill: {argv: ${JSON.stringify(recorder('kill'))}, timeout: 10s}\n`,
    });
  });
  after(async () => {
    await d?.stop();
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
    state.remove();
  });

  test('a steady 8 MiB/s leak in 64 MiB is warned (oom_predicted) at least 3 s before its kill', async (t) => {
    const cg = cgroup('leak', 64 * M);
    await d.waitForMetric('oomwatch_cgroup_memory_limit_in_effect_bytes', { cgroup: cg.path }, (v) => v === 64 * M);
    const { pid, killedAt } = await leakUntilKilled(cg.dir);
    const warning = await d.waitForLog((l) => l.event === 'oom_predicted' && of(cg.path)(l), 5_000, 'the oom_predicted line');
    const lead = killedAt - (warning['time'] as number);
    t.diagnostic(`warned ${lead} ms before the kill, ${String(warning['seconds_to_limit'])} s predicted, from ${String(warning['trend_samples'])} samples over ${String(warning['trend_span_s'])} s`);
    assert.ok(lead >= 3000, `warned ${lead} ms before the kill: ${JSON.stringify(warning)}`);
    assert.equal(warning['limit_bytes'], 64 * M);
    assert.ok((warning['seconds_to_limit'] as number) <= 30, 'within the default horizon');
    assert.ok((warning['growth_bytes_per_second'] as number) > 4 * M, `the slope is the leak's: ${String(warning['growth_bytes_per_second'])}`);
    // The evidence read at the warning: the leaking process, its RSS and oom_score_adj.
    const top = warning['top_processes'] as { pid: number; name: string; rss_bytes: number; oom_score_adj: number }[];
    assert.equal(top[0]?.pid, pid, `the top process is the leak: ${JSON.stringify(top)}`);
    assert.equal(top[0]?.name, 'python3');
    assert.ok((top[0]?.rss_bytes ?? 0) > 8 * M);
    assert.equal(top[0]?.oom_score_adj, 0);
    assert.ok(((warning['memory_stat'] as Record<string, number>)['total_rss'] ?? 0) > 8 * M);
    // The kill is still counted and logged, with the evidence left after it.
    await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === pid, 10_000, 'the oom_kill line');
    const ev = await d.waitForLog((l) => l.event === 'oom_kill_evidence' && l['pid'] === pid, 10_000, 'the oom_kill_evidence line');
    assert.equal(ev['cgroup'], cg.path);
    assert.ok(ev['memory_stat'] !== null, 'memory.stat read at the kill');
    // The trend stopped with the kill: the prediction clears and the gauge goes.
    await d.waitForLog((l) => l.event === 'oom_predicted_cleared' && of(cg.path)(l), 15_000, 'oom_predicted_cleared');
    await d.waitForMetric('oomwatch_cgroup_memory_seconds_to_limit', { cgroup: cg.path }, (v) => v === undefined);

    // The hooks ran with the data: the warning's and the kill's.
    const runs = await until('both hook runs to have written their files', () => readdirSync(hookDir).filter((f) => f.endsWith('.env')), (f) => f.some((n) => n.startsWith('kill-')) && f.some((n) => n.startsWith('warning-')), { timeoutMs: 10_000 });
    const read = (kind: string) => {
      const stem = runs.find((n) => n.startsWith(`${kind}-`))?.replace(/\.env$/, '') as string;
      return { json: JSON.parse(readFileSync(join(hookDir, `${stem}.json`), 'utf8')) as Record<string, unknown>, env: readFileSync(join(hookDir, `${stem}.env`), 'utf8') };
    };
    const w = read('warning');
    assert.equal(w.json['hook'], 'warning');
    assert.equal(w.json['event'], 'oom_predicted');
    assert.equal(w.json['cgroup'], cg.path);
    assert.equal(w.json['limit_bytes'], 64 * M);
    assert.equal((w.json['top_processes'] as { pid: number }[])[0]?.pid, pid);
    assert.match(w.env, new RegExp(`^OOMWATCH_CGROUP=${cg.path}$`, 'm'));
    assert.match(w.env, /^OOMWATCH_EVENT=oom_predicted$/m);
    assert.match(w.env, /^OOMWATCH_HOOK=warning$/m);
    assert.match(w.env, /^OOMWATCH_SECONDS_TO_LIMIT=\d/m);
    const k = read('kill');
    assert.equal(k.json['hook'], 'kill');
    assert.equal(k.json['event'], 'oom_kill');
    assert.equal(k.json['pid'], pid);
    assert.equal(k.json['process'], 'python3');
    assert.equal(k.json['cgroup'], cg.path);
    assert.match(k.env, new RegExp(`^OOMWATCH_PID=${pid}$`, 'm'));
    assert.match(k.env, /^OOMWATCH_PROCESS=python3$/m);
    // A hook's files are written before it exits; the daemon logs hook_done once it has reaped it.
    const done = await until('both hooks to have logged hook_done', () => d.logs.filter((l) => l.event === 'hook_done'), (ls) => ls.length >= 2, { timeoutMs: 10_000 });
    assert.deepEqual(done.map((l) => l['hook']).sort(), ['kill', 'warning'], 'each hook logged its end');
    assert.ok(done.every((l) => l['exit_code'] === 0));
  });

  test('a cgroup whose page cache grows like a leak and fills its limit, then is re-read, raises no warning', async () => {
    const cg = cgroup('cache', 64 * M);
    const file = join(state.dir, 'cache.bin');
    // The file is written at the leak's pace, 8 MiB/s, so a warner that watched usage or the working
    // set would see the same trend as the leak's; then it is re-read, again and again.
    const write = `i=0; while [ $i -lt 56 ]; do dd if=/dev/zero of="${file}" bs=1M count=1 seek=$i conv=notrunc status=none; i=$((i+1)); sleep 0.125; done`;
    const loop = `${write}; while :; do cat "${file}" > /dev/null; done`;
    const child = spawnInCgroup(cg.dir, ['/bin/sh', '-c', loop]);
    try {
      // The workload fills the cgroup: the working-set warning (near_limit) fires, as it always did.
      await d.waitForLog((l) => l.event === 'near_limit' && of(cg.path)(l), 20_000, 'near_limit for the page-cache cgroup');
      const since = Date.now();
      // Long enough for every rule: the trend window (10 s) and the reclaim rule (10 s) more than once.
      await until('25 s of the page-cache workload at its limit', () => Date.now() - since, (ms) => ms >= 25_000, { timeoutMs: 30_000, everyMs: 500 });
      const usage = await d.metric('oomwatch_cgroup_memory_usage_bytes', { cgroup: cg.path });
      assert.ok((usage ?? 0) > 50 * M, `the cgroup is full of cache: ${usage}`);
      assert.deepEqual(d.logs.filter((l) => EARLY_WARNINGS.has(l.event ?? '') && of(cg.path)(l)), [], 'no early warning');
      assert.equal(await d.metric('oomwatch_cgroup_memory_warning', { cgroup: cg.path }), undefined);
      const unrec = await d.metric('oomwatch_cgroup_memory_unreclaimable_bytes', { cgroup: cg.path });
      assert.ok(unrec !== undefined && unrec < 8 * M, `little of it is unreclaimable: ${unrec}`);
      assert.ok(existsSync(file));
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  test('a cgroup pinned at its limit, mostly unreclaimable and reclaiming cache: limit_reclaim, cleared when it stops', async () => {
    const cg = cgroup('pinned', 64 * M);
    const file = join(state.dir, 'pinned.bin');
    // 40 MiB held by a process (unreclaimable: no swap), and a 40 MiB file re-read in a loop: the
    // cache cannot all fit, so every re-read charges pages at the limit (memory.failcnt rises).
    const hold = spawnInCgroup(cg.dir, [PYTHON, '-c', "import time; x = b'x' * (40 << 20); time.sleep(600)"]);
    const loop = spawnInCgroup(cg.dir, ['/bin/sh', '-c', `dd if=/dev/zero of="${file}" bs=1M count=40 status=none; while :; do cat "${file}" > /dev/null; done`]);
    try {
      const w = await d.waitForLog((l) => l.event === 'limit_reclaim' && of(cg.path)(l), 40_000, 'the limit_reclaim line');
      assert.equal(w['counter'], 'memory.failcnt');
      assert.ok((w['reclaims_per_second'] as number) >= 1);
      assert.ok((w['unreclaimable_ratio'] as number) >= 0.5, `most of the limit is unreclaimable: ${String(w['unreclaimable_ratio'])}`);
      assert.equal(await d.metric('oomwatch_cgroup_memory_warning', { cgroup: cg.path, signal: 'limit_reclaim' }), 1);
      assert.deepEqual(d.logs.filter((l) => l.event === 'oom_predicted' && of(cg.path)(l)), [], 'nothing grows: no prediction');
    } finally {
      loop.kill('SIGKILL');
      await exited(loop);
    }
    await d.waitForLog((l) => l.event === 'limit_reclaim_cleared' && of(cg.path)(l), 30_000, 'limit_reclaim_cleared');
    assert.equal(await d.metric('oomwatch_cgroup_memory_warning', { cgroup: cg.path, signal: 'limit_reclaim' }), undefined);
    hold.kill('SIGKILL');
    await exited(hold);
  });
});

describe('a hook that hangs on the real v1 kernel', realKernel(), () => {
  const state = tempDir('hang');
  const pids = join(state.dir, 'pids');
  let d: DaemonProcess;

  before(async () => {
    // The kill hook and its child record their pids, then hang.
    const argv = ['/bin/sh', '-c', 'echo $$ >> "$1"; sleep 600 & echo $! >> "$1"; wait', 'hook', pids];
    d = await startDaemon({ stateDir: state.dir, config: `hooks:\n  kill: {argv: ${JSON.stringify(argv)}, timeout: 3s}\n  max_concurrent: 1\n` });
  });
  after(async () => {
    await d?.stop();
    for (const dir of made.reverse()) await removeCgroupTree(dir);
    removePrefixIfEmpty();
    state.remove();
  });

  test('is SIGKILLed with its process group at its timeout, and the next kill is counted while it hangs', async () => {
    const cg = cgroup('hang', 32 * M);
    await d.waitForMetric('oomwatch_cgroup_memory_limit_in_effect_bytes', { cgroup: cg.path }, (v) => v === 32 * M);
    const first = spawnInCgroup(cg.dir, HOG);
    assert.equal((await exited(first)).signal, 'SIGKILL');
    await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === first.pid, 10_000, 'the first kill');
    const hung = await until('the hook and its child to be running', () => (existsSync(pids) ? readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number) : []), (p) => p.length === 2);
    // The second kill while the first hook hangs: counted and logged before that hook's timeout.
    const second = spawnInCgroup(cg.dir, HOG);
    assert.equal((await exited(second)).signal, 'SIGKILL');
    const line = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === second.pid, 10_000, 'the second kill');
    const timeoutLine = await d.waitForLog((l) => l.event === 'hook_timeout', 15_000, 'the hook_timeout line');
    assert.ok(d.logs.indexOf(line) < d.logs.indexOf(timeoutLine), 'the second kill was logged while the first hook still hung');
    assert.equal(await d.metric('oomwatch_oom_kills_total', { cgroup: cg.path }), 2);
    assert.equal(timeoutLine['hook'], 'kill');
    assert.equal(timeoutLine['timeout_ms'], 3000);
    assert.equal(timeoutLine['signal'], 'SIGKILL');
    // The hook's whole group is gone: the shell and its sleep.
    for (const pid of hung) {
      await until(`hook process ${pid} to be gone`, () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    }
    assert.ok((await d.metric('oomwatch_hook_runs_total', { hook: 'kill', result: 'timeout' }) ?? 0) >= 1);
  });
});
