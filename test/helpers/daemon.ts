/**
 * Start the real `oomwatch daemon` (bin/oomwatch) on 127.0.0.1 and a free port, read its JSON log
 * lines, scrape it, and stop it by PID (also when a test fails: call stop() in after()).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN } from './cli.js';
import { until } from './until.js';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the Prometheus text exposition format (enough for our own output). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every series of `name` whose labels include `labels` (undefined when there is none). */
export function sumMetric(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.length === 0 ? undefined : hits.reduce((a, s) => a + s.value, 0);
}

export class DaemonProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  port = 0;
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.stderr.push(`(stdout, not JSON) ${line}`);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exitPromise.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exitPromise;
  }

  /** Resolves with the first log line (already there or to come) that matches. */
  async waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 15_000, what = 'a log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(pred);
      if (hit !== undefined) return hit;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`daemon exited before ${what}; stderr: ${this.stderr.join('\n')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last logs: ${JSON.stringify(this.logs.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async scrape(path = '/metrics'): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.text();
  }

  async samples(): Promise<Sample[]> {
    return parseMetrics(await this.scrape());
  }

  /** Value of the one series with these labels (a subset match), or undefined. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const hits = (await this.samples()).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} series: ${JSON.stringify(hits)}`);
    return hits[0]?.value;
  }

  /**
   * The sum of every series of `name` whose labels include `labels` (undefined when there is none):
   * a cgroup's kills are spread over series that differ in `limit` and `main_process`.
   */
  async total(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    return sumMetric(await this.samples(), name, labels);
  }

  /** Poll until the sum of the matching series satisfies pred (see total()); throws on timeout like waitForMetric. */
  async waitForTotal(name: string, labels: Record<string, string>, pred: (v: number | undefined) => boolean, timeoutMs = 10_000): Promise<number | undefined> {
    return until(`the sum of ${name}${JSON.stringify(labels)} to satisfy ${pred.toString()}`, () => this.total(name, labels), pred, { timeoutMs, everyMs: 50 });
  }

  /**
   * Poll until the metric satisfies pred (the daemon polls cgroups at its own interval); throws on
   * timeout naming the series, the condition and the last value scraped.
   */
  async waitForMetric(name: string, labels: Record<string, string>, pred: (v: number | undefined) => boolean, timeoutMs = 10_000): Promise<number | undefined> {
    return until(`${name}${JSON.stringify(labels)} to satisfy ${pred.toString()}`, () => this.metric(name, labels), pred, { timeoutMs, everyMs: 50 });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exitPromise;
  }
}

export interface StartOptions {
  config?: string;
  stateDir?: string;
  args?: string[];
  pollInterval?: string;
  /** Run as this user (and group): e.g. 65534, nobody, to see what works without root. */
  uid?: number;
  /** How long to wait for the listening line (default 20 s; a node start in the TCG guest is slower). */
  startTimeoutMs?: number;
  /** A command that execs the rest of its arguments (e.g. setpriv with its flags): the daemon runs under it. */
  wrapper?: string[];
}

/** A temp folder for a test, removed by the returned function. */
export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `oomwatch-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Start the daemon and wait until it serves; the config text (YAML) is written to a temp file. */
export async function startDaemon(opts: StartOptions = {}): Promise<DaemonProcess> {
  const args = [BIN, 'daemon', '--listen', '127.0.0.1:0', '--poll-interval', opts.pollInterval ?? '200ms'];
  if (opts.stateDir !== undefined) args.push('--state-dir', opts.stateDir);
  if (opts.config !== undefined) {
    const file = join(opts.stateDir ?? mkdtempSync(join(tmpdir(), 'oomwatch-cfg-')), 'config.yml');
    writeFileSync(file, opts.config);
    args.push('--config', file);
  }
  args.push(...(opts.args ?? []));
  const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid };
  const [cmd, ...cmdArgs] = [...(opts.wrapper ?? []), process.execPath, ...args] as [string, ...string[]];
  const d = new DaemonProcess(spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], ...ids }));
  let listening: LogLine;
  try {
    listening = await d.waitForLog((l) => l.event === 'listening', opts.startTimeoutMs ?? 20_000, 'the listening log line');
  } catch (err) {
    await d.stop('SIGKILL');
    throw err;
  }
  d.port = (listening['address'] as { port: number }).port;
  return d;
}
