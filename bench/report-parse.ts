/**
 * `report_parse_us`: the CPU the daemon spends on one OOM report between reading its records and
 * the kill it emits, outside the daemon (not in the suite; bench/README.md, "Detection: the report
 * parser, cold").
 *
 * The real 99-record v1 memcg report (test/fixtures/oom/k8s-cgroupfs.kmsg) as raw /dev/kmsg
 * records (one string per read()) goes through what the daemon's kill pipeline runs on a drain:
 * parseKmsgRecord for each record, feedKmsgEvents into a fresh OomReportParser, idle(), the kill.
 * Two figures, each split into parseKmsgRecord and the OOM parser (feed + idle):
 *
 * - cold, as the daemon meets a report: the kill path warmed up as the daemon does at start
 *   (warmUpKillPath × WARM_UP_ROUNDS), then before each sample ≈ 8 MB of short-lived objects,
 *   JSON and regexes over other strings, and a `--pause-ms` sleep (default 20: other processes
 *   run, the caches are theirs); median of `--samples` (default 100). `--new-cgroup` renames the
 *   report's cgroup every sample (a first kill in that cgroup: nothing resolved before);
 * - hot: the report 2,000 times in a loop after 200, median (what V8 does at best).
 *
 * `--by-record` prints the cold median of each record's push (and of idle()) above 1.5 µs.
 *
 *   npm run build && node dist/bench/report-parse.js [--samples N] [--pause-ms N] [--new-cgroup] [--by-record]
 *   node --cpu-prof --cpu-prof-interval=10 dist/bench/report-parse.js --samples 400
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KmsgEvent } from '../src/kmsg/reader.js';
import { parseKmsgRecord } from '../src/kmsg/record.js';
import type { OomKillEvent } from '../src/oom/event.js';
import { feedKmsgEvents } from '../src/oom/kmsgFeed.js';
import { OomReportParser } from '../src/oom/report.js';
import { WARM_UP_ROUNDS, warmUpKillPath } from '../src/oom/warmup.js';

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = 'k8s-cgroupfs';
const CGROUP_TOP = '/oomwatch-capture/';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : def;
}

const samples = arg('--samples', 100);
const pauseMs = arg('--pause-ms', 20);
const newCgroup = process.argv.includes('--new-cgroup');
const byRecord = process.argv.includes('--by-record');
const RAW = readFileSync(join(TOP, 'test', 'fixtures', 'oom', `${FIXTURE}.kmsg`), 'latin1')
  .split('\n')
  .filter(Boolean)
  .map((l) => `${l}\n`);
if (!RAW.some((r) => r.includes(CGROUP_TOP))) throw new Error(`${FIXTURE}.kmsg has no ${CGROUP_TOP} path`);

interface Sample {
  readonly recordUs: number;
  readonly parserUs: number;
}

let sink = 0;
let renamed = 0;

/** The report's records, its cgroup renamed when asked (a cgroup met for the first time). */
function records(): string[] {
  if (!newCgroup) return RAW;
  const top = `/oomwatch-capture-${++renamed}/`;
  return RAW.map((r) => r.replaceAll(CGROUP_TOP, top));
}

/** One report as the daemon runs it on a drain; the kill must come out. `perRecord`: each push's µs. */
function once(raw: readonly string[], perRecord?: number[]): Sample {
  const kills: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => kills.push(e) });
  const t0 = process.hrtime.bigint();
  const events: KmsgEvent[] = [];
  for (const r of raw) events.push({ type: 'record', record: parseKmsgRecord(r) });
  const t1 = process.hrtime.bigint();
  if (perRecord === undefined) {
    feedKmsgEvents(parser, events, { done: (seq) => { sink += seq; } });
  } else {
    let t = t1;
    for (let i = 0; i < events.length; i++) {
      feedKmsgEvents(parser, [events[i] as KmsgEvent]);
      const u = process.hrtime.bigint();
      perRecord[i] = Number(u - t) / 1000;
      t = u;
    }
  }
  const t2 = process.hrtime.bigint();
  parser.idle();
  const t3 = process.hrtime.bigint();
  if (perRecord !== undefined) perRecord[raw.length] = Number(t3 - t2) / 1000;
  if (kills.length !== 1) throw new Error(`${FIXTURE}.kmsg gave ${kills.length} kills, want 1`);
  sink += (kills[0] as OomKillEvent).pid;
  return { recordUs: Number(t1 - t0) / 1000, parserUs: Number(t3 - t1) / 1000 };
}

/** What runs between two kills in the daemon, roughly: allocation, GCs, other code and data. */
function otherWork(): void {
  const objs: unknown[] = [];
  for (let i = 0; i < 40_000; i++) objs.push({ k: `cgroup-${i}`, v: i * 3, a: [i, i + 1] });
  const text = JSON.stringify(objs.slice(0, 4000));
  sink += text.length + (JSON.parse(text) as unknown[]).length;
  for (let i = 0; i < 2000; i++) sink += /^(\d+) (\w+)$/.exec(`${i} word${i}`)?.length ?? 0;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function line(label: string, xs: readonly Sample[]): string {
  const totals = xs.map((x) => x.recordUs + x.parserUs).sort((a, b) => a - b);
  const p10 = totals[Math.floor(totals.length * 0.1)] as number;
  const p90 = totals[Math.floor(totals.length * 0.9)] as number;
  return (
    `${label}: ${median(totals).toFixed(1)} µs (p10 ${p10.toFixed(1)}, p90 ${p90.toFixed(1)}): ` +
    `parseKmsgRecord ${median(xs.map((x) => x.recordUs)).toFixed(1)}, OOM parser ${median(xs.map((x) => x.parserUs)).toFixed(1)} (medians of ${xs.length})`
  );
}

async function main(): Promise<void> {
  for (let r = 0; r < WARM_UP_ROUNDS; r++) warmUpKillPath(r);
  const cold: Sample[] = [];
  const perRecord: number[][] = RAW.map(() => []).concat([[]]);
  const one: number[] = [];
  for (let i = 0; i < samples; i++) {
    const raw = records();
    otherWork();
    await new Promise((res) => setTimeout(res, pauseMs));
    cold.push(once(raw, byRecord ? one : undefined));
    if (byRecord) one.forEach((us, j) => (perRecord[j] as number[]).push(us));
  }
  for (let i = 0; i < 200; i++) once(records());
  const hot: Sample[] = [];
  for (let i = 0; i < 2000; i++) hot.push(once(records()));
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `report_parse_us: ${FIXTURE}.kmsg (${RAW.length} records): raw records → parseKmsgRecord → feedKmsgEvents/OomReportParser → idle(); ` +
      `node ${process.version}, load ${load}${newCgroup ? ', a new cgroup path every report' : ''}`,
  );
  console.log(line(`  cold (warm-up ${WARM_UP_ROUNDS} rounds; other work and a ${pauseMs} ms pause before each)`, cold));
  console.log(line('  hot (2,000 in a loop after 200)', hot));
  if (byRecord) {
    console.log('  cold, by record (median µs of its feed; > 1.5 only):');
    perRecord.forEach((us, j) => {
      const m = median(us);
      const r = RAW[j];
      if (m > 1.5) console.log(`  ${m.toFixed(1).padStart(7)}  ${r === undefined ? 'idle()' : `#${j} ${r.slice(r.indexOf(';') + 1, r.indexOf(';') + 61).trimEnd()}`}`);
    });
  }
  if (sink === 0.5) console.log(sink);
}

await main();
