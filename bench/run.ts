/**
 * `npm run bench [-- --quick] [-- --only key,key]`: the whole suite (issue 7). Each benchmark prints
 * what it measured, how and on which machine; the last stdout line is one JSON object with exactly
 * the keys below (null when a benchmark could not run, e.g. not root), also written to
 * bench/results/latest.json. Never part of `npm test`.
 *
 * Root only, except parse_records_per_s: real cgroups under /sys/fs/cgroup/memory/oomwatch-bench/
 * (removed at the end, on failure and on SIGINT/SIGTERM), real OOM kills, /dev/kmsg.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchParse } from './parse.js';
import { benchPoll } from './poll.js';
import { cpuPercent, launch, measureCpuRss, measureDetect, measureScrape, measureStorm, waitWatched } from './daemon.js';
import { BENCH_CGROUP, cleanupSync, hasV1Memory, installCleanup, isRoot, makeCgroups, makeLimited } from './lib/cgroups.js';
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
] as const;

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
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

const rootKeys = KEYS.filter((k) => k !== 'parse_records_per_s');
if (!isRoot() || !hasV1Memory()) {
  console.log(`\n== ${rootKeys.join(', ')}: not measured: ${isRoot() ? 'no v1 memory hierarchy at /sys/fs/cgroup/memory' : 'root only (real cgroups, OOM kills, /dev/kmsg)'}`);
} else {
  installCleanup();
  try {
    const k1 = makeCgroups('k1', 1000);
    if (want('poll_us_per_cgroup')) put('poll_us_per_cgroup', await benchPoll({ quick, cgroups: k1 }));
    if (want('daemon_cpu_percent_1k', 'daemon_rss_mb_1k', 'scrape_ms_1k', 'detect_latency_ms_p50', 'detect_latency_ms_p99', 'storm_kills', 'storm_counted')) {
      makeLimited('detect', 64 * 1024 * 1024);
      makeLimited('storm', 32 * 1024 * 1024);
      const { d, cleanup } = await launch([`${BENCH_CGROUP}/k1/*`, `${BENCH_CGROUP}/detect`, `${BENCH_CGROUP}/storm`], '1k');
      try {
        await waitWatched(d, 1002);
        if (want('daemon_cpu_percent_1k', 'daemon_rss_mb_1k')) put('daemon_cpu_percent_1k, daemon_rss_mb_1k', await measureCpuRss(d, quick));
        if (want('scrape_ms_1k')) put('scrape_ms_1k', await measureScrape(d, 'scrape_ms_1k', quick));
        if (want('detect_latency_ms_p50', 'detect_latency_ms_p99')) put('detect_latency_ms_p50, detect_latency_ms_p99', await measureDetect(d, quick));
        if (want('storm_kills', 'storm_counted')) put('storm_kills, storm_counted', await measureStorm(d));
      } finally {
        await cleanup();
      }
    }
    if (want('scrape_ms_10k')) {
      const c0 = Date.now();
      makeCgroups('k1', 9000, 1000);
      const createMs = Date.now() - c0;
      const { d, startMs, cleanup } = await launch([`${BENCH_CGROUP}/k1/*`], '10k');
      try {
        const discoverMs = await waitWatched(d, 10_000);
        await sleep(1100); // a poll after discovery: every series exists
        const o = await measureScrape(d, 'scrape_ms_10k', quick);
        const nofile = /Max open files\s+(\S+)/.exec(readFileSync(`/proc/${d.pid}/limits`, 'latin1'))?.[1] ?? '?';
        put('scrape_ms_10k', {
          values: o.values,
          method: [
            `10,000 real empty cgroups (9,000 created for this in ${createMs} ms); the daemon served ${(startMs / 1000).toFixed(1)} s after its start and watched all ${discoverMs} ms later`,
            `daemon's open files limit ${nofile} (kept-open cgroup files: that less 1,024; the rest opened per poll); its CPU over the run: ${cpuPercent(d.pid)}`,
            ...o.method,
          ],
        });
      } finally {
        await cleanup();
      }
    }
  } catch (err) {
    cleanupSync();
    throw err;
  }
}

console.log(`\nbench done in ${((Date.now() - t0) / 1000).toFixed(1)} s${quick ? ' (--quick: fewer runs, 30 s CPU window, 5 kills)' : ''}`);
const json = JSON.stringify(results);
mkdirSync(join(TOP, 'bench', 'results'), { recursive: true });
writeFileSync(join(TOP, 'bench', 'results', 'latest.json'), `${json}\n`);
console.log(json);
// After the results: removing 10,000 cgroups takes seconds (also done on failure and SIGINT).
const r0 = Date.now();
cleanupSync();
console.error(`removed ${BENCH_CGROUP} in ${Date.now() - r0} ms`);
