/**
 * `poll_us_per_cgroup`: CPU time of one poll sweep over 1,000 real empty v1 memory cgroups,
 * divided by 1,000. Target ≤ 40 µs. Root only.
 *
 * Method: in process, the daemon's own CgroupMemoryCollector (kept-open fds, parsers, prom-client
 * gauges; hooks that do nothing) over BENCH_DIR/k1/c00000..c00999; process.cpuUsage() (user+sys,
 * all threads; nothing else runs in this process meanwhile) around each sweep. 5 warm-up sweeps
 * (opening the fds happens in the first), then 50 (10 with --quick) measured, 100 ms apart like a
 * poll loop; the median.
 */
import { Registry } from 'prom-client';
import { CgroupMemoryCollector } from '../src/collectors/cgroupMemory.js';
import { V1MemoryBackend } from '../src/cgroup/v1/backend.js';
import { MEMORY_MOUNT, makeCgroups } from './lib/cgroups.js';
import { median, sleep, spread, type BenchOutcome } from './lib/stats.js';

export async function benchPoll(opts: { quick: boolean; cgroups: readonly string[] }): Promise<BenchOutcome> {
  const errors: string[] = [];
  const collector = new CgroupMemoryCollector(new V1MemoryBackend(MEMORY_MOUNT), new Registry(), {
    onSample: () => undefined,
    onGone: (p) => errors.push(`${p} gone`),
    onNotMemory: (p) => errors.push(`${p} has no memory files`),
    onError: (p, e) => errors.push(`${p}: ${String(e)}`),
  });
  for (const p of opts.cgroups) collector.add(p);
  const n = opts.cgroups.length;
  const warm = 5;
  const runs = opts.quick ? 10 : 50;
  const cpuUs: number[] = [];
  const wallUs: number[] = [];
  for (let i = 0; i < warm + runs; i++) {
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    collector.update(Date.now());
    const c = process.cpuUsage(c0);
    const w = Number(process.hrtime.bigint() - w0) / 1000;
    if (i >= warm) {
      cpuUs.push(c.user + c.system);
      wallUs.push(w);
    }
    await sleep(100);
  }
  collector.close();
  if (errors.length > 0) throw new Error(`poll errors: ${errors.slice(0, 3).join('; ')}`);
  const per = cpuUs.map((c) => c / n);
  return {
    values: { poll_us_per_cgroup: Number(median(per).toFixed(2)) },
    method: [
      `in process: CgroupMemoryCollector (v1, kept-open fds, prom-client gauges) over ${n} real empty cgroups; CPU time from process.cpuUsage() per sweep`,
      `${warm} warm-up sweeps, ${runs} measured, 100 ms apart; µs CPU per cgroup: median ${median(per).toFixed(2)} (${spread(per)}); wall per sweep median ${(median(wallUs) / 1000).toFixed(1)} ms`,
    ],
  };
}

export { makeCgroups };
