import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HookRunner, hookEnv } from '../../src/daemon/hooks.js';
import { DEFAULT_HOOKS, parseConfig } from '../../src/daemon/config.js';
import { until } from '../helpers/until.js';

function rig(cfg: Partial<typeof DEFAULT_HOOKS>) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const registry = new Registry();
  const runner = new HookRunner({ ...DEFAULT_HOOKS, ...cfg }, log, registry);
  const count = async (hook: string, result: string) => (await registry.getSingleMetric('oomwatch_hook_runs_total')?.get())?.values.find((v) => v.labels['hook'] === hook && v.labels['result'] === result)?.value;
  return { runner, lines, count };
}

test('hookEnv: scalar fields as OOMWATCH_*; objects only on stdin', () => {
  assert.deepEqual(hookEnv('kill', { cgroup: '/a', pid: 7, 'seconds-to': 1.5, memory_stat: { anon: 1 }, unit: null }), {
    OOMWATCH_HOOK: 'kill', OOMWATCH_CGROUP: '/a', OOMWATCH_PID: '7', OOMWATCH_SECONDS_TO: '1.5',
  });
});

test('a hook gets the event as JSON on stdin and as environment variables; exit status and output logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-hooktest-'));
  try {
    const { runner, lines, count } = rig({ warning: { argv: ['/bin/sh', '-c', 'cat > "$1/in.json"; echo "$OOMWATCH_CGROUP $OOMWATCH_LIMIT_BYTES"; echo oops >&2; exit 3', 'h', dir], timeoutMs: 10_000 } });
    runner.run('warning', { event: 'oom_predicted', cgroup: '/x', limit_bytes: 64, top_processes: [{ pid: 1 }] });
    runner.run('kill', { event: 'oom_kill', cgroup: '/x' });
    const line = (await until('the hook_failed line', () => lines.find((l) => l['event'] === 'hook_failed'))) as Record<string, unknown>;
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'in.json'), 'utf8')), { hook: 'warning', event: 'oom_predicted', cgroup: '/x', limit_bytes: 64, top_processes: [{ pid: 1 }] });
    assert.equal(line['exit_code'], 3);
    assert.equal(line['stdout'], '/x 64\n');
    assert.equal(line['stderr'], 'oops\n');
    assert.equal(await count('warning', 'failed'), 1);
    assert.equal(lines.filter((l) => String(l['event']).startsWith('hook_')).length, 1, 'no kill hook configured: nothing ran');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hanging hook is SIGKILLed with its process group at its timeout; concurrency is bounded, the overflow dropped and counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-hooktest-'));
  try {
    const { runner, lines, count } = rig({ kill: { argv: ['/bin/sh', '-c', 'sleep 600 & echo $! > "$1/child-$$"; wait', 'h', dir], timeoutMs: 300 }, maxConcurrent: 1, maxQueued: 1 });
    runner.run('kill', { pid: 1 });
    runner.run('kill', { pid: 2 });
    runner.run('kill', { pid: 3 });
    assert.equal(lines.filter((l) => l['event'] === 'hook_dropped').length, 1, 'one running + one queued: the third is dropped');
    assert.equal(await count('kill', 'dropped'), 1);
    await until('both hooks to time out', () => lines.filter((l) => l['event'] === 'hook_timeout').length, (n) => n === 2, { timeoutMs: 10_000 });
    const t = lines.filter((l) => l['event'] === 'hook_timeout');
    assert.ok(t.every((l) => l['signal'] === 'SIGKILL' && l['timeout_ms'] === 300));
    // Ran one after the other (max_concurrent 1): the second started after the first ended.
    assert.ok((t[1]?.['time'] as number) - (t[0]?.['time'] as number) >= 250);
    const kids = readdirSync(dir).map((f) => Number(readFileSync(join(dir, f), 'utf8')));
    assert.equal(kids.length, 2);
    for (const pid of kids) {
      await until(`the hook's child ${pid} to be gone with its group`, () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    }
    assert.equal(await count('kill', 'timeout'), 2);
    assert.ok(existsSync(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config: warn keys of the early warner and hooks, with errors that name the key', () => {
  const c = parseConfig(
    'warn: {working_set_ratio: 0.8, horizon: 1m, trend_window: 20s, fast_poll_interval: 0, pressure: {kind: full, avg10: 5, for: 30s}, limit_reclaim: {per_second: 2, for: 5s, unreclaimable_ratio: 0.7}}\nhooks: {warning: {argv: [/bin/page, --x]}, kill: {argv: [/bin/k], timeout: 2s}, max_concurrent: 2, max_queued: 0}\n',
    'c.yml',
  );
  assert.deepEqual(c.warn, { workingSetRatio: 0.8, hysteresis: 0.05 });
  assert.deepEqual(c.early, { horizonS: 60, hysteresis: 0.5, trendWindowS: 20, fastPollMs: 0, pressure: { kind: 'full', avg10: 5, forS: 30 }, limitReclaim: { perSecond: 2, forS: 5, unreclaimableRatio: 0.7 } });
  assert.deepEqual(c.hooks, { warning: { argv: ['/bin/page', '--x'], timeoutMs: 10_000 }, kill: { argv: ['/bin/k'], timeoutMs: 2000 }, maxConcurrent: 2, maxQueued: 0 });
  for (const [text, re] of [
    ['hooks: {kill: {argv: []}}\n', /c\.yml: hooks\.kill\.argv: expected the command/],
    ['hooks: {kill: {argv: "rm -rf /"}}\n', /hooks\.kill\.argv: expected a list of strings/],
    ['hooks: {kill: {argv: [a], shell: true}}\n', /hooks\.kill\.shell: unknown setting/],
    ['hooks: {max_concurrent: 0}\n', /hooks\.max_concurrent: expected a whole number ≥ 1/],
    ['warn: {pressure: {kind: most}}\n', /warn\.pressure\.kind: "most" is not some or full/],
    ['warn: {horizon: soon}\n', /warn\.horizon:/],
    ['warn: {trend_window: 500ms}\n', /warn\.trend_window: must be at least 1s/],
    ['warn: {limit_reclaim: {unreclaimable_ratio: 2}}\n', /warn\.limit_reclaim\.unreclaimable_ratio: expected a number in \(0, 1\]/],
  ] as const) {
    assert.throws(() => parseConfig(text, 'c.yml'), re, text);
  }
});

test('a hook whose command does not exist is reported as an error, and the next one still runs', async () => {
  const { runner, lines, count } = rig({ warning: { argv: ['/nonexistent/oomwatch-hook'], timeoutMs: 5000 }, maxConcurrent: 1 });
  runner.run('warning', { cgroup: '/a' });
  runner.run('warning', { cgroup: '/b' });
  await until('two failed runs', () => lines.filter((l) => l['event'] === 'hook_failed').length, (n) => n === 2);
  const l = lines.find((x) => x['event'] === 'hook_failed');
  assert.equal(l?.['result'], 'error');
  assert.match(String(l?.['err']), /ENOENT/);
  assert.equal(await count('warning', 'error'), 2);
  assert.equal(runner.active, 0);
});
