/**
 * A real Prometheus + Alertmanager + webhook receiver on 127.0.0.1, for end-to-end tests of
 * oomwatch's metrics and alert rules against the programs operators run (Debian's `prometheus`
 * 2.42 and `prometheus-alertmanager` 0.25, installed by `bash scripts/install-deps --test`).
 *
 * Everything is started by the test and stopped by it: `stop()` kills each process by its PID
 * (SIGTERM, then SIGKILL), closes the webhook server and removes the temporary folder, and is
 * safe to call twice and after a failed start. Call it from `after()`.
 *
 * Timing (measured with these versions): the first notification of an alert that fires before
 * Prometheus has discovered Alertmanager is dropped and re-sent only after
 * `--rules.alert.resend-delay` (default 1m), so it is 1s here; Alertmanager groups with
 * group_wait 0s / group_interval 1s. An always-firing rule then reaches the webhook in about 8 s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';

export const PROMETHEUS = 'prometheus';
export const ALERTMANAGER = 'prometheus-alertmanager';
export const PROMTOOL = 'promtool';

/** Why `program` cannot run here (not installed), or undefined when it can. */
export function toolUnavailable(program: string): string | undefined {
  const r = spawnSync(program, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `${program} is not installed (bash scripts/install-deps --test installs it): ${r.error.message}`;
  return undefined;
}

/**
 * For tests that need these programs: skip where they are missing, except in CI (CI=true),
 * where a missing program fails the run (.ci/run installs them).
 */
export function requireTools(t: TestContext, ...programs: string[]): boolean {
  for (const p of programs) {
    const why = toolUnavailable(p);
    if (why === undefined) continue;
    if (process.env['CI'] === 'true') throw new Error(`cannot run in CI: ${why}`);
    t.skip(why);
    return false;
  }
  return true;
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One alert as Alertmanager's webhook delivers it (webhook payload version 4). */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: WebhookAlert[];
}

export interface PromStackOptions {
  /** Scrape targets, `127.0.0.1:PORT`, under job `job` (default "oomwatch"). */
  targets?: string[];
  job?: string;
  /** Rule files to load: copied into the stack's folder; contents may be given instead of a path. */
  ruleFiles?: Array<{ path: string } | { name: string; text: string }>;
  /** Scrape and rule evaluation interval (default 1s). */
  interval?: string;
  /** How long to wait for each program to become ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface PromStack {
  /** `http://127.0.0.1:PORT` of Prometheus. */
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly webhookUrl: string;
  readonly dir: string;
  /** Every payload the webhook received, in order. */
  readonly received: WebhookPayload[];
  /** Instant query through Prometheus's HTTP API: the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Poll `query` until `accept` returns true for its result (or throw with the last result). */
  waitForQuery(
    promql: string,
    accept: (r: Array<{ metric: Record<string, string>; value: [number, string] }>) => boolean,
    timeoutMs: number,
  ): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Wait until the webhook received a firing alert that `match` accepts. */
  waitForAlert(match: (a: WebhookAlert) => boolean, timeoutMs: number): Promise<WebhookAlert>;
  /** The output both programs wrote so far (for assertion messages). */
  logs(): string;
  stop(): Promise<void>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<void>;
}

function startProc(name: string, cmd: string, args: string[], cwd: string): Proc {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (d: Buffer): void => {
    output.push(d.toString());
    // Bounded: only the tail matters for a failure message.
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      output.push(`spawn error: ${err.message}\n`);
      resolve();
    });
  });
  return { name, child, output, exited };
}

/** SIGTERM by PID, SIGKILL after 5 s, resolve when it has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitReady(url: string, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited before it was ready:\n${proc.output.join('')}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} not ready at ${url} after ${timeoutMs} ms (${last}):\n${proc.output.join('')}`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Prometheus's config: one job scraping `targets`, rules, Alertmanager as a static target. */
export function prometheusConfig(o: { job: string; targets: string[]; interval: string; ruleFiles: string[]; alertmanager: string }): string {
  return [
    'global:',
    `  scrape_interval: ${o.interval}`,
    `  evaluation_interval: ${o.interval}`,
    `  scrape_timeout: ${o.interval}`,
    'rule_files:',
    ...(o.ruleFiles.length === 0 ? ['  []'] : o.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)),
    'alerting:',
    '  alertmanagers:',
    '    - static_configs:',
    `        - targets: [${JSON.stringify(o.alertmanager)}]`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(o.job)}`,
    '    static_configs:',
    `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

/** Alertmanager's config: every alert to the webhook at once, repeated every second while it fires. */
export function alertmanagerConfig(webhookUrl: string): string {
  return [
    'route:',
    '  receiver: test-webhook',
    '  group_by: [alertname, cgroup, instance]',
    '  group_wait: 0s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'receivers:',
    '  - name: test-webhook',
    '    webhook_configs:',
    `      - url: ${JSON.stringify(webhookUrl)}`,
    '        send_resolved: true',
    '',
  ].join('\n');
}

/**
 * Start the webhook receiver, Alertmanager and Prometheus (in that order, so that nothing
 * starts sending before its receiver listens) and wait for each to be ready.
 * On any failure everything already started is stopped before the error is thrown.
 */
export async function startPromStack(opts: PromStackOptions = {}): Promise<PromStack> {
  const job = opts.job ?? 'oomwatch';
  const interval = opts.interval ?? '1s';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-promstack-'));
  const received: WebhookPayload[] = [];
  const waiters = new Set<() => void>();
  const procs: Proc[] = [];
  let server: Server | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Prometheus first (it sends to Alertmanager), then Alertmanager, then the webhook.
    for (const p of [...procs].reverse()) await stopChild(p.child, p.exited);
    if (server !== undefined) {
      const s = server;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    server = createServer((req, res) => {
      readBody(req).then(
        (body) => {
          try {
            received.push(JSON.parse(body) as WebhookPayload);
          } catch (err) {
            // Not a webhook payload: keep a record of it so a failing test shows what came.
            received.push({ version: 'unparsable', status: 'firing', receiver: (err as Error).message, groupLabels: {}, commonLabels: {}, alerts: [] });
          }
          res.writeHead(200).end();
          for (const w of waiters) w();
        },
        () => res.writeHead(400).end(),
      );
    });
    const srv = server;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', resolve);
    });
    const webhookUrl = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/alerts`;

    const amPort = await freePort();
    const amDir = join(dir, 'alertmanager');
    mkdirSync(amDir);
    writeFileSync(join(dir, 'alertmanager.yml'), alertmanagerConfig(webhookUrl));
    const am = startProc(
      'alertmanager',
      ALERTMANAGER,
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${amDir}`,
        `--web.listen-address=127.0.0.1:${amPort}`,
        // An empty address turns clustering (a gossip listener on 0.0.0.0:9094) off.
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      dir,
    );
    procs.push(am);
    const alertmanagerUrl = `http://127.0.0.1:${amPort}`;
    await waitReady(`${alertmanagerUrl}/-/ready`, am, readyTimeoutMs);

    const ruleFiles: string[] = [];
    for (const [i, f] of (opts.ruleFiles ?? []).entries()) {
      const dest = join(dir, 'path' in f ? `${i}-${basename(f.path)}` : `${i}-${f.name}`);
      if ('path' in f) copyFileSync(f.path, dest);
      else writeFileSync(dest, f.text);
      ruleFiles.push(dest);
    }
    const promPort = await freePort();
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    const targets = opts.targets ?? [`127.0.0.1:${promPort}`];
    writeFileSync(
      join(dir, 'prometheus.yml'),
      prometheusConfig({ job, targets, interval, ruleFiles, alertmanager: `127.0.0.1:${amPort}` }),
    );
    const tsdb = join(dir, 'tsdb');
    mkdirSync(tsdb);
    const prom = startProc(
      'prometheus',
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${tsdb}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        // The first notification goes out before Alertmanager is discovered and is dropped;
        // the default resend delay (1m) would hold the alert back that long.
        '--rules.alert.resend-delay=1s',
        '--log.level=warn',
      ],
      dir,
    );
    procs.push(prom);
    await waitReady(`${prometheusUrl}/-/ready`, prom, readyTimeoutMs);

    const query: PromStack['query'] = async (promql) => {
      const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`, {
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
      if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${promql}: ${body.error ?? res.status}`);
      if (body.data.resultType !== 'vector') throw new Error(`query ${promql}: expected a vector, got ${body.data.resultType}`);
      return body.data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
    };

    const logs = (): string => procs.map((p) => `--- ${p.name}\n${p.output.join('')}`).join('\n');

    return {
      prometheusUrl,
      alertmanagerUrl,
      webhookUrl,
      dir,
      received,
      query,
      logs,
      stop,
      async waitForQuery(promql, accept, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        let last: unknown = 'no answer yet';
        while (Date.now() < deadline) {
          try {
            const r = await query(promql);
            if (accept(r)) return r;
            last = r;
          } catch (err) {
            last = (err as Error).message;
          }
          await sleep(250);
        }
        throw new Error(`${promql}: not as expected after ${timeoutMs} ms; last: ${JSON.stringify(last)}\n${logs()}`);
      },
      async waitForAlert(match, timeoutMs) {
        const find = (): WebhookAlert | undefined =>
          received.flatMap((p) => p.alerts).find((a) => a.status === 'firing' && match(a));
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const hit = find();
          if (hit !== undefined) return hit;
          const left = deadline - Date.now();
          if (left <= 0) {
            throw new Error(`no matching alert at the webhook after ${timeoutMs} ms; received: ${JSON.stringify(received)}\n${logs()}`);
          }
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              waiters.delete(done);
              resolve();
            };
            const timer = setTimeout(done, Math.min(left, 500));
            waiters.add(done);
          });
        }
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
