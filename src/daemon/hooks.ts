/**
 * Hooks: a command of the config run on each early warning and on each kill. The command is an
 * argv (no shell); it gets the event as JSON on stdin and its scalar fields as OOMWATCH_* environment
 * variables. At most `maxConcurrent` run at once, at most `maxQueued` wait (more are dropped and
 * counted); one that outlives its timeout is SIGKILLed with its whole process group (it is started
 * as a group leader of its own). Spawning happens off the caller's stack (setImmediate), so a
 * hook never delays the kill line or the counter; its end, output and exit status are logged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';

import type { HookKind, HookSpec, HooksConfig } from './config.js';

/** How much of a hook's stdout and stderr is kept for its log line. */
const OUTPUT_BYTES = 4096;

export type HookResult = 'ok' | 'failed' | 'timeout' | 'error' | 'dropped';

/** Scalar fields of an event as OOMWATCH_<KEY> variables (objects and arrays: only on stdin). */
export function hookEnv(kind: HookKind, payload: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = { OOMWATCH_HOOK: kind };
  for (const [k, v] of Object.entries(payload)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    env[`OOMWATCH_${k.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(v);
  }
  return env;
}

interface Job {
  readonly kind: HookKind;
  readonly spec: HookSpec;
  readonly payload: Record<string, unknown>;
}

export class HookRunner {
  /** The hooks running, with their kind. */
  private readonly running = new Map<ChildProcess, HookKind>();
  private readonly queue: Job[] = [];
  private readonly runs: Counter<'hook' | 'result'>;
  private stopped = false;

  constructor(
    private cfg: HooksConfig,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.runs = new Counter({ name: 'oomwatch_hook_runs_total', help: 'Hook runs by hook (warning|kill) and result (ok|failed|timeout|error|dropped)', labelNames: ['hook', 'result'] as const, registers: [registry] });
    for (const hook of ['warning', 'kill'] as const) for (const result of ['ok', 'failed', 'timeout', 'error', 'dropped'] as const) this.runs.inc({ hook, result }, 0);
  }

  setConfig(cfg: HooksConfig): void {
    this.cfg = cfg;
  }

  /** Run the hook of `kind` (if configured) on this event, later: never on the caller's stack. */
  run(kind: HookKind, payload: Record<string, unknown>): void {
    const spec = this.cfg[kind];
    if (spec === null || this.stopped) return;
    if (this.running.size + this.queue.length >= this.cfg.maxConcurrent + this.cfg.maxQueued) {
      this.runs.inc({ hook: kind, result: 'dropped' });
      this.log.warn({ event: 'hook_dropped', hook: kind, running: this.running.size, queued: this.queue.length }, `${kind} hook not run: ${this.running.size} running and ${this.queue.length} queued already`);
      return;
    }
    this.queue.push({ kind, spec, payload });
    setImmediate(() => this.next());
  }

  /** How many hooks run now. */
  get active(): number {
    return this.running.size;
  }

  private next(): void {
    while (!this.stopped && this.running.size < this.cfg.maxConcurrent) {
      const job = this.queue.shift();
      if (job === undefined) return;
      this.start(job);
    }
  }

  private start({ kind, spec, payload }: Job): void {
    const t0 = performance.now();
    const [cmd, ...args] = spec.argv;
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...hookEnv(kind, payload) } });
    } catch (err) {
      this.finish(kind, spec, 'error', t0, { err: String(err) });
      return;
    }
    this.running.set(child, kind);
    const out = { stdout: '', stderr: '' };
    child.stdout?.on('data', (b: Buffer) => (out.stdout = (out.stdout + b.toString('utf8')).slice(-OUTPUT_BYTES)));
    child.stderr?.on('data', (b: Buffer) => (out.stderr = (out.stderr + b.toString('utf8')).slice(-OUTPUT_BYTES)));
    // A hook that does not read its stdin closes it: EPIPE is no failure of the hook.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(`${JSON.stringify({ hook: kind, ...payload })}\n`);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.killGroup(kind, child);
    }, spec.timeoutMs);
    let done = false;
    const end = (result: HookResult, extra: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.running.delete(child);
      // A grandchild that left the group may hold the pipes open: stop listening to them.
      child.stdout?.destroy();
      child.stderr?.destroy();
      this.finish(kind, spec, result, t0, { pid: child.pid ?? null, ...extra, stdout: out.stdout, stderr: out.stderr });
      this.next();
    };
    child.once('error', (err) => end('error', { err: String(err) }));
    child.once('exit', (code, signal) => {
      // Let the pipes deliver what the hook wrote before it exited.
      setImmediate(() => end(timedOut ? 'timeout' : code === 0 ? 'ok' : 'failed', { exit_code: code, signal }));
    });
  }

  private finish(kind: HookKind, spec: HookSpec, result: HookResult, t0: number, fields: Record<string, unknown>): void {
    this.runs.inc({ hook: kind, result });
    const ms = Math.round(performance.now() - t0);
    const base = { event: result === 'ok' ? 'hook_done' : result === 'timeout' ? 'hook_timeout' : 'hook_failed', hook: kind, argv: spec.argv, result, duration_ms: ms, ...fields };
    if (result === 'ok') this.log.info(base, `${kind} hook ${spec.argv[0]} done in ${ms} ms`);
    else if (result === 'timeout') this.log.warn({ ...base, timeout_ms: spec.timeoutMs }, `${kind} hook ${spec.argv[0]} killed at its timeout of ${spec.timeoutMs} ms`);
    else this.log.warn(base, `${kind} hook ${spec.argv[0]} failed (${result}): ${JSON.stringify(fields['err'] ?? fields['exit_code'] ?? fields['signal'])}`);
  }

  /** Drop the queue and kill the hooks still running (their process groups, which we started). */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    for (const [c, kind] of this.running) this.killGroup(kind, c);
  }

  /** SIGKILL the hook's process group (the hook leads it: spawned detached). Never throws: it runs from a timer. */
  private killGroup(kind: HookKind, child: ChildProcess): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch (err) {
      // ESRCH: the group is gone already.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        this.log.error({ event: 'hook_kill_failed', hook: kind, pid: child.pid, err: String(err) }, `cannot kill the ${kind} hook's process group ${child.pid}: ${String(err)}`);
      }
    }
  }
}
