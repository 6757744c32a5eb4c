/**
 * Two readers of the same OOM kills' records, side by side: how far a second reader is from the C
 * floor (bench/c/kmsg-floor.c) when both are woken by the same kill. Not a key and not in the
 * suite: it says how much of `detect_latency_ms_p50 − kmsg_floor_ms_p50` any second reader pays on
 * this machine (bench/README.md, "Detection: a second reader of the same records").
 *
 * Two phases of `--kills` kills each (default 30; dd bs=128M in a 64M v1 cgroup under
 * /oomwatch-bench, ≥ 1 s apart, both readers at the unit's nice): the C floor beside a second copy
 * of itself, then beside bench/node-floor.ts on this node. For each kill, the second reader's read
 * of the `Killed process` record − the C floor's (ms); p25, p50, p75 and all of them.
 *
 *   npm run build && node dist/bench/kmsg-floors.js [--kills N]
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupSync, hasV1Memory, hog, installCleanup, isRoot, makeLimited } from './lib/cgroups.js';
import { compileC, startFloorReader } from './lib/kmsgFloor.js';
import { machine, monoMs, percentile, sleep } from './lib/stats.js';
import { UNIT_NICE } from './daemon.js';

const i = process.argv.indexOf('--kills');
const KILLS = i >= 0 ? Number(process.argv[i + 1]) : 30;
const NODE_FLOOR = join(dirname(fileURLToPath(import.meta.url)), 'node-floor.js');

async function phase(label: string, second: readonly string[], dir: string): Promise<void> {
  const first = await startFloorReader(UNIT_NICE);
  const other = await startFloorReader(UNIT_NICE, second);
  const gaps: number[] = [];
  try {
    let last = 0;
    for (let n = 0; gaps.length < KILLS; n++) {
      if (n > KILLS * 2) throw new Error(`only ${gaps.length} of ${KILLS} hogs were OOM-killed`);
      await sleep(last + 1000 - monoMs());
      last = monoMs();
      const h = await hog(dir, '128M');
      if (h.signal !== 'SIGKILL') continue;
      const match = (m: string): boolean => m.includes(`Killed process ${h.pid} (`);
      const a = await first.wait(match);
      const b = await other.wait(match);
      gaps.push(b.readMs - a.readMs);
    }
  } finally {
    await first.stop();
    await other.stop();
  }
  const p = (q: number): string => percentile(gaps, q).toFixed(2);
  console.log(`${label} − the C floor, per kill (ms): p25 ${p(0.25)}, p50 ${p(0.5)}, p75 ${p(0.75)}; ${gaps.map((g) => g.toFixed(2)).join(' ')}`);
}

if (!isRoot() || !hasV1Memory()) throw new Error('kmsg-floors: needs root and a cgroup v1 memory hierarchy');
installCleanup();
try {
  const cg = makeLimited('floors', 64 * 1024 * 1024);
  const c = compileC('kmsg-floor');
  console.log(`kmsg-floors: ${KILLS} kills a phase in ${cg.path} (limit 64M), both readers at nice ${UNIT_NICE}; ${machine()}`);
  await phase('a second C floor', [c.bin], cg.dir);
  await phase(`bench/node-floor.ts on node ${process.version}`, [process.execPath, NODE_FLOOR], cg.dir);
  c.remove();
} finally {
  cleanupSync();
}
