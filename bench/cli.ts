/**
 * The CLI as a user runs it, whole process (node start-up, module loading, work, exit), timed by
 * bench/c/rusage.c (fork to reaping on CLOCK_MONOTONIC; peak RSS from wait4's ru_maxrss), with
 * stdout to /dev/null. `node bin/oomwatch` with this bench's node (no PATH look-up, no shell).
 *
 * The CLI runs in this process's environment less NODE_EXTRA_CA_CERTS (see CLI_ENV).
 *
 * - cli_start_ms: `oomwatch mode --json`, 2 warm-up runs, then the median of 20 (10 with --quick).
 *   Target ≤ 60 ms.
 * - parse_cli_records_per_s_1core, parse_cli_peak_rss_mb: `taskset -c 0 oomwatch parse --json`
 *   on the 1M-record raw kmsg file of bench/parse.ts (generated in a temp dir, removed after), one
 *   warm-up run (page cache), then 5 runs (3 with --quick); records / wall time of the run with
 *   the median wall time, and that run's peak RSS. Every run's stderr summary must name every
 *   kill in the file. Targets ≥ 6,000,000 and ≤ 60 MB.
 *
 *   npm run build && node dist/bench/cli.js [--quick]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, BIN_NODE_FLAGS } from '../test/helpers/cli.js';
import { generateKmsgLog } from './parse.js';
import { compileC } from './lib/kmsgFloor.js';
import { median, report, spread, type BenchOutcome } from './lib/stats.js';

interface Run {
  readonly wallMs: number;
  readonly maxrssMb: number;
  readonly cpuMs: number;
  readonly stderr: string;
}

/**
 * The environment the CLI runs in: the bench's own, less NODE_EXTRA_CA_CERTS. When that is set,
 * Node 20 reads and parses the whole file at start, before any JavaScript runs (Node 22.23 and 24
 * wait for the first TLS use): tens of milliseconds of the shell's, not of oomwatch, which makes no
 * TLS connection. `node -e 0` is timed with it too, and printed, when the bench's shell sets it.
 */
const EXTRA_CA = 'NODE_EXTRA_CA_CERTS';
const CLI_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== EXTRA_CA));

function runner(rusage: string, env: NodeJS.ProcessEnv = CLI_ENV) {
  return (cmd: string[]): Run => {
    const r = spawnSync(rusage, cmd, { encoding: 'utf8', maxBuffer: 1 << 24, env });
    const m = /wall_us=(\d+) maxrss_kb=(\d+) user_us=(\d+) sys_us=(\d+) status=(\d+)/.exec(r.stdout);
    if (r.status !== 0 || m === null) throw new Error(`rusage ${cmd.join(' ')}: ${r.error?.message ?? r.stderr}`);
    if (m[5] !== '0') throw new Error(`${cmd.join(' ')} exited ${m[5]}: ${r.stderr}`);
    return { wallMs: Number(m[1]) / 1000, maxrssMb: Number(m[2]) / 1024, cpuMs: (Number(m[3]) + Number(m[4])) / 1000, stderr: r.stderr };
  };
}

/** The whole-process timer, or why there is none (no C compiler): the keys are then null. */
function timer(): ReturnType<typeof compileC> | Error {
  try {
    return compileC('rusage');
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

export function benchCliStart(opts: { quick: boolean }): BenchOutcome {
  const c = timer();
  if (c instanceof Error) return { values: { cli_start_ms: null }, method: [`not measured: ${c.message}`] };
  try {
    const run = runner(c.bin);
    const extraCa = process.env[EXTRA_CA];
    const runWithCa = extraCa === undefined ? undefined : runner(c.bin, process.env);
    const n = opts.quick ? 10 : 20;
    const cmd = [process.execPath, ...BIN_NODE_FLAGS, BIN, 'mode', '--json'];
    const bare = [process.execPath, '-e', '0'];
    for (let i = 0; i < 2; i++) run(cmd);
    const runs: Run[] = [];
    const nodeRuns: Run[] = [];
    const caRuns: Run[] = [];
    // Interleaved with a bare `node -e 0`: what node alone costs at the same moment.
    for (let i = 0; i < n; i++) {
      runs.push(run(cmd));
      nodeRuns.push(run(bare));
      if (runWithCa !== undefined) caRuns.push(runWithCa(bare));
    }
    const ms = runs.map((r) => r.wallMs);
    const nodeMs = nodeRuns.map((r) => r.wallMs);
    const caMs = caRuns.map((r) => r.wallMs);
    return {
      values: { cli_start_ms: Number(median(ms).toFixed(1)) },
      method: [
        `\`node bin/oomwatch mode --json\`, whole process (fork to reaping, bench/c/rusage.c), stdout to /dev/null; 2 warm-up, ${n} runs: median ${median(ms).toFixed(1)} ms (${spread(ms, 1)}); CPU (user+sys) median ${median(runs.map((r) => r.cpuMs)).toFixed(0)} ms; peak RSS median ${median(runs.map((r) => r.maxrssMb)).toFixed(1)} MB`,
        `\`node -e 0\` interleaved with them: median ${median(nodeMs).toFixed(1)} ms (${spread(nodeMs, 1)}): oomwatch's own start ≈ ${(median(ms) - median(nodeMs)).toFixed(1)} ms`,
        extraCa === undefined
          ? `${EXTRA_CA} not set`
          : `${EXTRA_CA} (${extraCa}) removed from both: \`node -e 0\` with it, interleaved, median ${median(caMs).toFixed(1)} ms (${spread(caMs, 1)})`,
      ],
    };
  } finally {
    c.remove();
  }
}

export function benchParseCli(opts: { quick: boolean }): BenchOutcome {
  if (spawnSync('taskset', ['--version']).error !== undefined) {
    return { values: { parse_cli_records_per_s_1core: null, parse_cli_peak_rss_mb: null }, method: ['not measured: no taskset (util-linux)'] };
  }
  const c = timer();
  if (c instanceof Error) return { values: { parse_cli_records_per_s_1core: null, parse_cli_peak_rss_mb: null }, method: [`not measured: ${c.message}`] };
  const total = 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-bench-'));
  try {
    const file = join(dir, 'kmsg.txt');
    const gen = generateKmsgLog(file, total);
    const run = runner(c.bin);
    const cmd = ['taskset', '-c', '0', process.execPath, ...BIN_NODE_FLAGS, BIN, 'parse', '--json', file];
    const want = `oomwatch parse: ${gen.reports} kills`;
    const n = opts.quick ? 3 : 5;
    const runs: Run[] = [];
    for (let i = 0; i <= n; i++) {
      const r = run(cmd);
      if (!r.stderr.startsWith(want)) throw new Error(`oomwatch parse should find ${gen.reports} kills; it said: ${r.stderr}`);
      if (i > 0) runs.push(r);
    }
    const byWall = [...runs].sort((a, b) => a.wallMs - b.wallMs);
    const mid = byWall[Math.ceil(byWall.length / 2) - 1] as Run;
    const rates = runs.map((r) => total / (r.wallMs / 1000));
    return {
      values: { parse_cli_records_per_s_1core: Math.round(total / (mid.wallMs / 1000)), parse_cli_peak_rss_mb: Number(mid.maxrssMb.toFixed(1)) },
      method: [
        `\`taskset -c 0 node bin/oomwatch parse --json FILE\` > /dev/null, whole process (bench/c/rusage.c), ${EXTRA_CA} ${process.env[EXTRA_CA] === undefined ? 'not set' : 'removed from its environment'}; FILE: ${total} raw kmsg records, ${gen.reports} OOM reports (bench/parse.ts's generator); every run's summary checked`,
        `1 warm-up, ${n} runs: wall median ${mid.wallMs.toFixed(0)} ms (${spread(runs.map((r) => r.wallMs), 0)}) = ${(total / mid.wallMs / 1000).toFixed(2)} M records/s (${spread(rates.map((r) => r / 1e6))} M); CPU ${mid.cpuMs.toFixed(0)} ms`,
        `peak RSS (ru_maxrss) of that run ${mid.maxrssMb.toFixed(1)} MB; over the runs ${spread(runs.map((r) => r.maxrssMb), 1)} MB`,
      ],
    };
  } finally {
    c.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  report('cli_start_ms', benchCliStart({ quick }));
  report('parse_cli_records_per_s_1core, parse_cli_peak_rss_mb', benchParseCli({ quick }));
}
