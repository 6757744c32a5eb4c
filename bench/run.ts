/**
 * `npm run bench [-- --quick] [-- --only key,key]`: the whole suite. Each benchmark prints
 * what it measured, how and on which machine; the last stdout line is one JSON object with exactly
 * the keys below (null when a benchmark could not run, e.g. not root), also written to
 * bench/results/latest.json. Never part of `npm test`.
 *
 * Root only, except parse_records_per_s, cli_start_ms and parse_cli_*: real cgroups under /sys/fs/cgroup/memory/oomwatch-bench/
 * (removed at the end, on failure and on SIGINT/SIGTERM), real OOM kills, /dev/kmsg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchParse } from './parse.js';
import { benchPoll } from './poll.js';
import { benchWarn } from './warn.js';
import { benchCliStart, benchParseCli } from './cli.js';
import { fdUse, launch, measureCpuRss, measureDetect, measureScrape, measureStorm, waitMetricsHold, waitWatched } from './daemon.js';
import { sweepFloor, V1_EMPTY_CGROUP_FILES } from './lib/sweepFloor.js';
import { BENCH_CGROUP, BENCH_DIR, cleanupSync, hasV1Memory, installCleanup, isRoot, makeCgroups, makeLimited } from './lib/cgroups.js';
import { machine, report, sleep, type BenchOutcome } from './lib/stats.js';

export const KEYS = [
  'parse_records_per_s',
  'detect_latency_ms_p50',
  'detect_latency_ms_p99',
  'poll_us_per_cgroup',
  'daemon_cpu_percent_1k',
  'daemon_rss_mb_1k',
  'scrape_ms_1k',
  'scrape_ms_10k',
  'storm_kills',
  'storm_counted',
  'kmsg_floor_ms_p50',
  'kmsg_floor_ms_p99',
  'cli_start_ms',
  'parse_cli_records_per_s_1core',
  'parse_cli_peak_rss_mb',
  'daemon_cpu_percent_10k',
  'daemon_rss_mb_10k',
  'daemon_ready_s_10k',
  'warn_lead_time_s',
  'warn_false_alarms',
] as const;

/** Keys measured without root. */
const UNPRIVILEGED: readonly string[] = ['parse_records_per_s', 'cli_start_ms', 'parse_cli_records_per_s_1core', 'parse_cli_peak_rss_mb'];

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
// A lower open files limit for the 10k daemon (prlimit), to see how its figures depend on it.
const nofileArg = args.indexOf('--nofile');
const nofile = nofileArg >= 0 ? Number(args[nofileArg + 1]) : undefined;
const only = onlyArg >= 0 ? new Set((args[onlyArg + 1] ?? '').split(',')) : null;
const want = (...keys: string[]) => only === null || keys.some((k) => only.has(k));

const results: Record<string, number | null> = Object.fromEntries(KEYS.map((k) => [k, null]));
const t0 = Date.now();
const put = (title: string, o: BenchOutcome) => {
  report(title, o);
  Object.assign(results, o.values);
};

console.log(`oomwatch bench${quick ? ' --quick' : ''}: ${machine()}`);
if (want('parse_records_per_s')) put('parse_records_per_s', benchParse({ quick }));
if (want('cli_start_ms')) put('cli_start_ms', benchCliStart({ quick }));
if (want('parse_cli_records_per_s_1core', 'parse_cli_peak_rss_mb')) put('parse_cli_records_per_s_1core, parse_cli_peak_rss_mb', benchParseCli({ quick }));

const rootKeys = KEYS.filter((k) => !UNPRIVILEGED.includes(k));
if (!isRoot() || !hasV1Memory()) {
  console.log(`\n== ${rootKeys.join(', ')}: not measured: ${isRoot() ? 'no v1 memory hierarchy at /sys/fs/cgroup/memory' : 'root only (real cgroups, OOM kills, /dev/kmsg)'}`);
} else {
  installCleanup();
  try {
    const k1 = makeCgroups('k1', 1000);
    if (want('poll_us_per_cgroup')) put('poll_us_per_cgroup', await benchPoll({ quick, cgroups: k1 }));
    if (want('daemon_cpu_percent_1k', 'daemon_rss_mb_1k', 'scrape_ms_1k', 'detect_latency_ms_p50', 'detect_latency_ms_p99', 'kmsg_floor_ms_p50', 'kmsg_floor_ms_p99', 'storm_kills', 'storm_counted')) {
      makeLimited('detect', 64 * 1024 * 1024);
      makeLimited('storm', 32 * 1024 * 1024);
      const { d, cleanup } = await launch([`${BENCH_CGROUP}/k1/*`, `${BENCH_CGROUP}/detect`, `${BENCH_CGROUP}/storm`], '1k');
      try {
        await waitWatched(d, 1002);
        if (want('daemon_cpu_percent_1k', 'daemon_rss_mb_1k')) put('daemon_cpu_percent_1k, daemon_rss_mb_1k', await measureCpuRss(d, quick));
        if (want('scrape_ms_1k')) put('scrape_ms_1k', await measureScrape(d, 'scrape_ms_1k', quick));
        if (want('detect_latency_ms_p50', 'detect_latency_ms_p99', 'kmsg_floor_ms_p50', 'kmsg_floor_ms_p99')) {
          put('detect_latency_ms_p50, detect_latency_ms_p99, kmsg_floor_ms_p50, kmsg_floor_ms_p99', await measureDetect(d, quick));
        }
        if (want('storm_kills', 'storm_counted')) put('storm_kills, storm_counted', await measureStorm(d));
      } finally {
        await cleanup();
      }
    }
    if (want('warn_lead_time_s', 'warn_false_alarms')) put('warn_lead_time_s, warn_false_alarms', await benchWarn({ quick }));
    if (want('scrape_ms_10k', 'daemon_cpu_percent_10k', 'daemon_rss_mb_10k', 'daemon_ready_s_10k')) {
      const c0 = Date.now();
      const k10 = [...k1, ...makeCgroups('k1', 9000, 1000)];
      const createMs = Date.now() - c0;
      // The kernel's floor for the same sweep, before the daemon starts (CPU time, so load matters less).
      const floor = sweepFloor(k10.map((p) => join(BENCH_DIR, p.slice(BENCH_CGROUP.length))), quick ? 3 : 10);
      const { d, t0: spawned, startMs, cleanup } = await launch([`${BENCH_CGROUP}/k1/*`], '10k', nofile);
      try {
        const ready = await waitMetricsHold(d, `${BENCH_CGROUP}/k1/`, 10_000, spawned);
        const discoverMs = await waitWatched(d, 10_000);
        const fds = fdUse(d.pid);
        const kept = Math.max(0, fds.open - 64);
        const files = V1_EMPTY_CGROUP_FILES.length;
        const keptCgroups = Math.min(10_000, Math.round(kept / files));
        const floorLines =
          floor instanceof Error
            ? [`kernel floor: not measured: ${floor.message}`]
            : [
                `kernel floor (bench/c/sweep-floor.c: pread of the same ${files} files, ${quick ? 3 : 10} sweeps back to back, CPU time): ${floor.keptUs.toFixed(2)} µs per cgroup kept open (${floor.kept} were), ${floor.otherUs.toFixed(2)} µs opened per sweep`,
                `so at a 1 s poll: ${((keptCgroups * floor.keptUs + (10_000 - keptCgroups) * floor.otherUs) / 1e4).toFixed(1)} % of a core for the reads alone with this limit (${keptCgroups} cgroups kept open), ${floor.keptUs.toFixed(1)} % with every file kept open (the unit's LimitNOFILE=1048576)`,
              ];
        put('daemon_ready_s_10k', {
          values: { daemon_ready_s_10k: Number((ready.ms / 1000).toFixed(2)) },
          method: [
            `10,000 real empty cgroups (9,000 created for this in ${createMs} ms); the daemon listened ${(startMs / 1000).toFixed(2)} s after its spawn; /metrics scraped every 200 ms from then (${ready.scrapes} scrapes)`,
            `first /metrics with a usage series for all ${ready.seen}: ${(ready.ms / 1000).toFixed(2)} s after the spawn (to that scrape's last byte); /healthz watched all ${discoverMs} ms later`,
            `open files limit ${fds.limit}${nofile === undefined ? " (this shell's)" : ' (prlimit --nofile)'}; the daemon holds ${fds.open} fds: ≈ ${kept} kept-open cgroup files, ≈ ${keptCgroups} of 10,000 cgroups at ${files} files each (an empty v1 cgroup); the rest are opened, read and closed on every poll`,
          ],
        });
        if (want('daemon_cpu_percent_10k', 'daemon_rss_mb_10k')) {
          const o = await measureCpuRss(d, quick, '10k');
          put('daemon_cpu_percent_10k, daemon_rss_mb_10k', {
            values: o.values,
            method: [...o.method, ...floorLines],
          });
        }
        if (want('scrape_ms_10k')) {
          await sleep(1100); // a poll after discovery: every series exists
          put('scrape_ms_10k', await measureScrape(d, 'scrape_ms_10k', quick));
        }
      } finally {
        await cleanup();
      }
    }
  } catch (err) {
    cleanupSync();
    throw err;
  }
}

console.log(`\nbench done in ${((Date.now() - t0) / 1000).toFixed(1)} s${quick ? ' (--quick: fewer runs, 20 s CPU windows, 5 kills)' : ''}`);
const json = JSON.stringify(results);
mkdirSync(join(TOP, 'bench', 'results'), { recursive: true });
writeFileSync(join(TOP, 'bench', 'results', 'latest.json'), `${json}\n`);
console.log(json);
// After the results: removing 10,000 cgroups takes seconds (also done on failure and SIGINT).
const r0 = Date.now();
cleanupSync();
console.error(`removed ${BENCH_CGROUP} in ${Date.now() - r0} ms`);
