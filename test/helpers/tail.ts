/**
 * Start the real `oomwatch tail` (bin/oomwatch) as a child, collect what it prints, wait for the
 * kills a test caused, and stop it by PID with a signal (also when a test fails: call kill() in
 * a finally). Works on the host and in the VM guest (the same dist/ is packed there).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { OomKillEvent } from '../../src/oom/event.js';
import { BIN } from './cli.js';

export class TailProcess {
  /** Parsed --json lines, in order. */
  readonly events: OomKillEvent[] = [];
  /** Raw stdout lines (table output, or JSON). */
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess, json: boolean) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.stdout.push(line);
      if (json) this.events.push(JSON.parse(line) as OomKillEvent);
      this.wake();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      this.wake();
    });
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.wake());
  }

  get pid(): number {
    return this.child.pid as number;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `cond()` holds; fails when tail exits first or after `timeoutMs`. */
  async until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`tail exited before ${what}; stderr: ${this.stderr.join('\n')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr.join('\n')}; stdout: ${this.stdout.slice(-5).join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Tail says this once it is positioned: every kill after it will be printed. */
  ready(timeoutMs = 20_000): Promise<void> {
    return this.until('tail to be ready', () => this.stderr.some((l) => l.startsWith('oomwatch tail: following ')), timeoutMs);
  }

  /** The events for one pid (tests assert only on their own processes). */
  eventsFor(pid: number): OomKillEvent[] {
    return this.events.filter((e) => e.pid === pid);
  }

  /** Send `signal` and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Cleanup: SIGKILL by PID if it still runs. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Start `oomwatch tail ARGS...`; `--json` in args makes stdout parsed as events. */
export function startTail(args: readonly string[], opts: { uid?: number; gid?: number } = {}): TailProcess {
  const child = spawn(process.execPath, [BIN, 'tail', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid === undefined ? {} : { uid: opts.uid }),
    ...(opts.gid === undefined ? {} : { gid: opts.gid }),
  });
  return new TailProcess(child, args.includes('--json'));
}
