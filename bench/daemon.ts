/**
 * The benchmarks that run the real daemon (bin/oomwatch daemon with the node flags of its `#!`
 * line, a child process on 127.0.0.1 and a free port, --poll-interval 1s, its own state dir, watching only the bench cgroups, at the nice
 * value of systemd/oomwatch.service, with this shell's open files limit, printed with the 10k
 * figure: the unit's LimitNOFILE cannot be set here). Root only:
 * it reads /dev/kmsg and the hogs need real memory cgroups.
 *
 * - daemon_cpu_percent_1k, daemon_rss_mb_1k: idle host side, 1,000 watched empty cgroups; after a
 *   10 s warm-up (1 s quick), utime+stime from /proc/<pid>/stat over 60 s (20 s quick), all threads;
 *   per-5 s windows for the spread. VmRSS from /proc/<pid>/status once
 *   a second; the median.
 * - daemon_ready_s_10k, daemon_cpu_percent_10k, daemon_rss_mb_10k: the same daemon watching
 *   10,000 empty cgroups: from its spawn to the end of the first /metrics (scraped every 200 ms
 *   once it listens) that holds a usage series for all 10,000; then CPU and RSS as above.
 * - scrape_ms_1k / scrape_ms_10k: GET /metrics over a kept-alive connection, request to last byte,
 *   5 warm-up scrapes then 30 (2 and 5 with --quick), 250 ms apart (they land anywhere in the 1 s poll cycle);
 *   the median. 10k: the same with 10,000 real empty cgroups (created once for this, ~0.5 s).
 * - detect_latency_ms_p50/p99: hogs OOM-killed one at a time in a 64M cgroup (dd bs=128M); for each,
 *   the daemon's oom_kill line for its pid: detected_mono_us (CLOCK_MONOTONIC as the line is written)
 *   − (kernel_time_us − the kmsg clock offset, calibrated with 20 markers before the kills). ≥ 30
 *   kills (5 quick), started ≥ 1 s apart: the kernel rate-limits the report header (10 per 5 s,
 *   host-wide, other OOMs on the host count too) and a kill line without its header waits for a
 *   cgroup counter to claim it (the next poll, or the ledger's grace): such kills are counted in
 *   the figure all the same, and the method line says how many there were (attributed_by).
 * - storm_kills/storm_counted: 100 hogs started at once in one 32M cgroup; the kernel's
 *   memory.oom_control oom_kill of it vs the daemon's oomwatch_oom_kills_total summed over its
 *   series, read once the daemon's grace (2 × poll + 0.5 s) has passed.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { Agent, request } from 'node:http';
import { DaemonProcess, parseMetrics, tempDir, type LogLine } from '../test/helpers/daemon.js';
import { BIN, BIN_NODE_FLAGS } from '../test/helpers/cli.js';
import { BENCH_CGROUP, children, hog, makeLimited, oomKillCount } from './lib/cgroups.js';
import { calibrateKernelClock } from './lib/kmsgClock.js';
import { startFloorReader } from './lib/kmsgFloor.js';
import { median, monoMs, percentile, sleep, spread, type BenchOutcome } from './lib/stats.js';

const CLK_TCK = 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s on every Linux ABI

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime); f[0] is field 3 (state).
  return Number(f[11]) + Number(f[12]);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/**
 * Start the daemon and wait until it serves (it discovers the existing tree first: with 10,000
 * cgroups that takes a while, hence the long wait); `startMs` is spawn to the listening line.
 */
/** The Nice= of the shipped unit (0 if it sets none): the bench runs the daemon as deployed. */
export const UNIT_NICE = ((): number => {
  const m = /^Nice=(-?\d+)\s*$/m.exec(readFileSync(new URL('../../systemd/oomwatch.service', import.meta.url), 'utf8'));
  return m === null ? 0 : Number(m[1]);
})();

/**
 * `nofile`: run the daemon under `prlimit --nofile=N:N` (a lower open files limit than this
 * shell's; raising it needs CAP_SYS_RESOURCE). `t0` is the spawn on CLOCK_MONOTONIC (monoMs).
 */
export async function launch(
  include: string[],
  label: string,
  nofile?: number,
): Promise<{ d: DaemonProcess; t0: number; startMs: number; cleanup: () => Promise<void> }> {
  const state = tempDir(`bench-${label}`);
  const file = join(state.dir, 'config.yml');
  writeFileSync(file, `kmsg: true\nlog_level: info\nwatch:\n  include: ${JSON.stringify(include)}\n`);
  const t0 = monoMs();
  // Node options for the daemon alone (e.g. `--cpu-prof --cpu-prof-dir=DIR`, which NODE_OPTIONS refuses).
  const nodeArgs = (process.env['OOMWATCH_BENCH_DAEMON_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const args = [...BIN_NODE_FLAGS, ...nodeArgs, BIN, 'daemon', '--listen', '127.0.0.1:0', '--poll-interval', '1s', '--state-dir', state.dir, '--config', file];
  // The open files limit is this shell's (20,000 here; the systemd unit sets 1,048,576, which
  // prlimit cannot set here: no CAP_SYS_RESOURCE). It bounds the cgroup files kept open.
  const d = new DaemonProcess(
    nofile === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('prlimit', [`--nofile=${nofile}:${nofile}`, '--', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  children.add(d.child);
  // As the unit runs it (its Nice=); the daemon starts up meanwhile, which this does not measure.
  setPriority(d.child.pid as number, UNIT_NICE);
  const listening = await d.waitForLog((l) => l.event === 'listening', 300_000, 'the listening log line');
  d.port = (listening['address'] as { port: number }).port;
  const startMs = monoMs() - t0;
  return {
    d,
    t0,
    startMs,
    cleanup: async () => {
      await d.stop();
      children.delete(d.child);
      state.remove();
    },
  };
}

async function health(d: DaemonProcess): Promise<{ cgroup: { watched: number }; kmsg: { up: boolean } }> {
  return JSON.parse(await d.scrape('/healthz')) as { cgroup: { watched: number }; kmsg: { up: boolean } };
}

/** Wait until the daemon watches `n` cgroups (discovery of a big tree takes a while). */
export async function waitWatched(d: DaemonProcess, n: number, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const h = await health(d);
    if (h.cgroup.watched >= n) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`daemon watches ${h.cgroup.watched} cgroups after ${timeoutMs} ms, want ${n}`);
    await sleep(200);
  }
}

/** Open files limit (soft) of a process and how many fds it holds. */
export function fdUse(pid: number): { limit: string; open: number } {
  const limit = /Max open files\s+(\S+)/.exec(readFileSync(`/proc/${pid}/limits`, 'latin1'))?.[1] ?? '?';
  return { limit, open: readdirSync(`/proc/${pid}/fd`).length };
}

export async function measureCpuRss(d: DaemonProcess, quick: boolean, label: '1k' | '10k' = '1k'): Promise<BenchOutcome> {
  const warm = quick ? 1 : 10;
  const secs = quick ? 20 : 60;
  await sleep(warm * 1000);
  const t0 = cpuTicks(d.pid);
  const w0 = monoMs();
  const windows: number[] = [];
  const rss: number[] = [];
  let wt = t0;
  let ww = w0;
  for (let s = 1; s <= secs; s++) {
    await sleep(w0 + s * 1000 - monoMs());
    rss.push(rssMb(d.pid));
    if (s % 5 === 0) {
      const t = cpuTicks(d.pid);
      const w = monoMs();
      windows.push((((t - wt) / CLK_TCK) * 1000 * 100) / (w - ww));
      wt = t;
      ww = w;
    }
  }
  const cpu = (((cpuTicks(d.pid) - t0) / CLK_TCK) * 1000 * 100) / (monoMs() - w0);
  const h = await health(d);
  return {
    values: { [`daemon_cpu_percent_${label}`]: Number(cpu.toFixed(2)), [`daemon_rss_mb_${label}`]: Number(median(rss).toFixed(1)) },
    method: [
      `real daemon (pid ${d.pid}, nice ${UNIT_NICE} as systemd/oomwatch.service), poll interval 1 s, watching ${h.cgroup.watched} cgroups, kmsg up: ${h.kmsg.up}; warm-up ${warm} s`,
      `CPU: utime+stime of /proc/<pid>/stat (all threads) over ${secs} s = ${cpu.toFixed(2)} % of one core; per-5 s windows: median ${median(windows).toFixed(2)} (${spread(windows)}) %`,
      `RSS: VmRSS once a second, ${rss.length} samples: median ${median(rss).toFixed(1)} MB (${spread(rss, 1)} MB)`,
      `open files: ${fdUse(d.pid).open} fds held, limit ${fdUse(d.pid).limit}`,
    ],
  };
}

/**
 * Scrape /metrics every `everyMs` until it holds a usage series for each of `n` cgroups under
 * `prefix`; returns ms from `t0` (the spawn) to the end of that scrape, and the scrapes made.
 */
export async function waitMetricsHold(d: DaemonProcess, prefix: string, n: number, t0: number, everyMs = 200, timeoutMs = 120_000): Promise<{ ms: number; scrapes: number; seen: number }> {
  const head = 'oomwatch_cgroup_memory_usage_bytes{';
  const label = `cgroup="${prefix}`;
  let scrapes = 0;
  let seen = 0;
  for (;;) {
    const text = await d.scrape();
    const at = monoMs();
    scrapes++;
    seen = 0;
    for (let i = text.indexOf(head); i >= 0; i = text.indexOf(head, i + head.length)) {
      const end = text.indexOf('\n', i);
      if (text.slice(i, end < 0 ? undefined : end).includes(label)) seen++;
    }
    if (seen >= n) return { ms: at - t0, scrapes, seen };
    if (at - t0 > timeoutMs) throw new Error(`/metrics holds ${seen} of ${n} cgroups ${timeoutMs} ms after the start`);
    await sleep(everyMs);
  }
}

function scrapeOnce(port: number, agent: Agent): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = monoMs();
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: monoMs() - t0, bytes }) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function measureScrape(d: DaemonProcess, key: string, quick: boolean): Promise<BenchOutcome> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const warm = quick ? 2 : 5;
  const runs = quick ? 5 : 30;
  const ms: number[] = [];
  let bytes = 0;
  try {
    for (let i = 0; i < warm + runs; i++) {
      const r = await scrapeOnce(d.port, agent);
      if (i >= warm) ms.push(r.ms);
      bytes = r.bytes;
      await sleep(250);
    }
  } finally {
    agent.destroy();
  }
  const series = parseMetrics(await d.scrape()).length;
  const h = await health(d);
  return {
    values: { [key]: Number(median(ms).toFixed(2)) },
    method: [
      `GET /metrics on a kept-alive connection, request to last byte; ${h.cgroup.watched} cgroups watched, ${series} series, ${(bytes / 1e6).toFixed(1)} MB`,
      `${warm} warm-up, ${runs} scrapes 250 ms apart (anywhere in the 1 s poll cycle): median ${median(ms).toFixed(2)} ms (${spread(ms)}) ms`,
    ],
  };
}

export async function measureDetect(d: DaemonProcess, quick: boolean): Promise<BenchOutcome> {
  const kills = quick ? 5 : 30;
  const cg = makeLimited('detect', 64 * 1024 * 1024);
  const clock = await calibrateKernelClock(20);
  // The machine's floor, on the same kills at the same nice: a blocking C reader of /dev/kmsg.
  // Without a C compiler the floor keys are null and the daemon's are measured all the same.
  const floor = await startFloorReader(UNIT_NICE).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  const floorLat: number[] = [];
  const gap: number[] = [];
  const lat: number[] = [];
  const viaKmsg: number[] = [];
  const by: Record<string, number> = {};
  let notKilled = 0;
  let last = 0;
  try {
    for (let i = 0; lat.length < kills; i++) {
      if (i > kills * 2) throw new Error(`only ${lat.length} of ${kills} hogs were OOM-killed`);
      await sleep(last + 1000 - monoMs());
      last = monoMs();
      const h = await hog(cg.dir, '128M');
      if (h.signal !== 'SIGKILL') {
        notKilled++;
        continue;
      }
      const line: LogLine = await d.waitForLog((l) => l.event === 'oom_kill' && l['pid'] === h.pid, 10_000, `the oom_kill line of pid ${h.pid}`);
      const detected = Number(line['detected_mono_us']) / 1000;
      const kernel = Number(line['kernel_time_us']) / 1000 - clock.offsetMs;
      lat.push(detected - kernel);
      const a = String(line['attributed_by']);
      if (a === 'kmsg') viaKmsg.push(detected - kernel);
      by[a] = (by[a] ?? 0) + 1;
      if (floor instanceof Error) continue;
      const f = await floor.wait((m) => m.includes(`Killed process ${h.pid} (`));
      if (f.tsUsec !== Number(line['kernel_time_us'])) {
        throw new Error(`kmsg-floor read the kill of pid ${h.pid} at TS_USEC ${f.tsUsec}, the daemon logged kernel_time_us ${String(line['kernel_time_us'])}`);
      }
      floorLat.push(f.readMs - kernel);
      gap.push(detected - f.readMs);
    }
  } finally {
    if (!(floor instanceof Error)) await floor.stop();
  }
  const after = await calibrateKernelClock(10);
  return {
    values: {
      detect_latency_ms_p50: Number(median(lat).toFixed(2)),
      detect_latency_ms_p99: Number(percentile(lat, 0.99).toFixed(2)),
      kmsg_floor_ms_p50: floor instanceof Error ? null : Number(median(floorLat).toFixed(2)),
      kmsg_floor_ms_p99: floor instanceof Error ? null : Number(percentile(floorLat, 0.99).toFixed(2)),
    },
    method: [
      `${lat.length} real OOM kills (dd bs=128M in ${cg.path}, limit 64M, ≥ 1 s apart${notKilled > 0 ? `, ${notKilled} hogs not killed` : ''}); the daemon at nice ${UNIT_NICE} (systemd/oomwatch.service); attributed by ${JSON.stringify(by)}`,
      `kernel_time_us of the Killed process record − kmsg clock offset ${clock.offsetMs.toFixed(3)} ms (±${clock.errorMs.toFixed(3)}; after the kills: ${after.offsetMs.toFixed(3)}) → CLOCK_MONOTONIC; to the daemon's detected_mono_us`,
      `ms: p50 ${median(lat).toFixed(2)}, p90 ${percentile(lat, 0.9).toFixed(2)}, p99 ${percentile(lat, 0.99).toFixed(2)} (${spread(lat)}); p99 of ${lat.length} is their ${lat.length < 100 ? 'maximum' : '99th percentile'}`,
      ...(floor instanceof Error
        ? [`floor: not measured: ${floor.message}`]
        : [
            `floor (bench/c/kmsg-floor.c: blocking read(2) of /dev/kmsg, 8 KiB buffer, CLOCK_MONOTONIC at its return; pid ${floor.pid}, nice ${UNIT_NICE}) on the same ${floorLat.length} Killed process records, same offset: p50 ${median(floorLat).toFixed(2)}, p90 ${percentile(floorLat, 0.9).toFixed(2)}, p99 ${percentile(floorLat, 0.99).toFixed(2)} (${spread(floorLat)})`,
            `daemon − floor per kill: p50 ${median(gap).toFixed(2)}, p99 ${percentile(gap, 0.99).toFixed(2)} (${spread(gap)}) ms; targets: p50(daemon) − p50(floor) ≤ 0.5 (${(median(lat) - median(floorLat)).toFixed(2)}), p99(daemon) ≤ 2 × p99(floor) (${percentile(lat, 0.99).toFixed(2)} vs ${(2 * percentile(floorLat, 0.99)).toFixed(2)})`,
          ]),
      ...(viaKmsg.length < lat.length ? [`of them, the ${viaKmsg.length} whose report named the cgroup (attributed_by kmsg): p50 ${median(viaKmsg).toFixed(2)}, p99 ${percentile(viaKmsg, 0.99).toFixed(2)} ms`] : []),
    ],
  };
}

export async function measureStorm(d: DaemonProcess): Promise<BenchOutcome> {
  const cg = makeLimited('storm', 32 * 1024 * 1024);
  const t0 = monoMs();
  const results = await Promise.all(Array.from({ length: 100 }, () => hog(cg.dir, '64M')));
  const stormMs = monoMs() - t0;
  const killed = results.filter((r) => r.signal === 'SIGKILL').length;
  const kernel = oomKillCount(cg.dir);
  // The ledger exports header-less kills once a counter claims them, or after its grace (2.5 s).
  const sum = async () =>
    parseMetrics(await d.scrape())
      .filter((s) => s.name === 'oomwatch_oom_kills_total' && s.labels['cgroup'] === cg.path)
      .reduce((a, s) => a + s.value, 0);
  let counted = await sum();
  const deadline = monoMs() + 10_000;
  while (counted !== kernel && monoMs() < deadline) {
    await sleep(250);
    counted = await sum();
  }
  const lines = d.logs.filter((l) => l.event === 'oom_kill' && l['victim_cgroup'] === cg.path);
  const by: Record<string, number> = {};
  for (const l of lines) by[String(l['attributed_by'])] = (by[String(l['attributed_by'])] ?? 0) + 1;
  return {
    values: { storm_kills: kernel, storm_counted: counted },
    method: [
      `100 hogs (dd bs=64M) started at once in ${cg.path} (limit 32M); all exited in ${stormMs.toFixed(0)} ms, ${killed} by SIGKILL`,
      `kernel: memory.oom_control oom_kill = ${kernel}; daemon: sum of oomwatch_oom_kills_total{cgroup="${cg.path}"} = ${counted}; oom_kill log lines ${lines.length}, attributed by ${JSON.stringify(by)}`,
    ],
  };
}

export { BENCH_CGROUP };
