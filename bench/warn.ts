/**
 * The early warning's two keys, on the real v1 kernel, the daemon on its defaults (1 s poll, every
 * `warn:` setting at its default):
 * - warn_lead_time_s: a process that allocates and touches 8 MiB/s in a 64 MiB cgroup, until the
 *   kernel kills it, several times; per leak, the wall time from the daemon's `oom_predicted` line
 *   (its pino `time`) to the leak's exit by SIGKILL as its parent saw it; the median. A leak with no
 *   warning counts as 0 s.
 * - warn_false_alarms: a 64 MiB cgroup whose page cache grows at the same 8 MiB/s to 56 MiB (a file
 *   written 1 MiB at a time) and is then re-read in a loop with cat; the early warnings
 *   (`oom_predicted`, `limit_reclaim`, `memory_pressure`) the daemon logs for it. Target 0.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../test/helpers/daemon.js';
import { children, makeLimited } from './lib/cgroups.js';
import { launch } from './daemon.js';
import { median, sleep, type BenchOutcome } from './lib/stats.js';
import { EARLY_WARNINGS, leakArgv } from '../test/helpers/leak.js';

const M = 2 ** 20;

function inCgroup(dir: string, argv: string[]) {
  const c = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv], { stdio: 'ignore' });
  children.add(c);
  return c;
}

export async function benchWarn({ quick }: { quick: boolean }): Promise<BenchOutcome> {
  const leak = makeLimited('warn-leak', 64 * M);
  const cache = makeLimited('warn-cache', 64 * M);
  const { d, cleanup } = await launch([leak.path, cache.path], 'warn');
  const files = tempDir('bench-warn');
  try {
    const runs = quick ? 3 : 7;
    const leads: number[] = [];
    const nearLeads: number[] = [];
    for (let i = 0; i < runs; i++) {
      const from = d.logs.length;
      const c = inCgroup(leak.dir, leakArgv(8));
      const startedAt = Date.now();
      const signal = await new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, s) => r(s)));
      const killedAt = Date.now();
      children.delete(c);
      if (signal !== 'SIGKILL') throw new Error(`leak ${i + 1} ended with ${String(signal)}, not an OOM kill`);
      // The line is written before the kill; a poll later at most it is in our buffer.
      await sleep(1500);
      const w = d.logs.slice(from).find((l) => l.event === 'oom_predicted' && l['cgroup'] === leak.path);
      leads.push(w === undefined ? 0 : (killedAt - (w['time'] as number)) / 1000);
      const near = d.logs.slice(from).find((l) => l.event === 'near_limit' && l['cgroup'] === leak.path);
      if (near !== undefined) nearLeads.push((killedAt - (near['time'] as number)) / 1000);
      console.log(`   leak ${i + 1}: killed ${((killedAt - startedAt) / 1000).toFixed(1)} s after its start, ${w === undefined ? 'never warned' : `warned ${((killedAt - (w['time'] as number)) / 1000).toFixed(2)} s before (${String(w['seconds_to_limit'])} s predicted)`}`);
      // The prediction clears once the trend stops; the next leak starts from a quiet cgroup.
      await sleep(2500);
    }

    const file = join(files.dir, 'cache.bin');
    const seconds = quick ? 20 : 40;
    const from = d.logs.length;
    const write = `i=0; while [ $i -lt 56 ]; do dd if=/dev/zero of="${file}" bs=1M count=1 seek=$i conv=notrunc status=none; i=$((i+1)); sleep 0.125; done`;
    const c = inCgroup(cache.dir, ['/bin/sh', '-c', `${write}; while :; do cat "${file}" > /dev/null; done`]);
    await sleep(seconds * 1000);
    const usage = await d.metric('oomwatch_cgroup_memory_usage_bytes', { cgroup: cache.path });
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    children.delete(c);
    const logs = d.logs.slice(from).filter((l) => l['cgroup'] === cache.path);
    const falseAlarms = logs.filter((l) => EARLY_WARNINGS.has(l.event ?? '')).length;
    const nearLimit = logs.filter((l) => l.event === 'near_limit').length;
    return {
      values: { warn_lead_time_s: Number(median(leads).toFixed(2)), warn_false_alarms: falseAlarms },
      method: [
        `daemon on its defaults (poll 1 s, horizon 30 s, trend window 10 s, cgroups in danger sampled every 100 ms); cgroups ${leak.path} and ${cache.path}, 64 MiB each`,
        `leak: python3 allocating and touching 8 MiB/s until OOM-killed, ${runs} times; lead = the leak's SIGKILL as its parent saw it − the oom_predicted line's time; leads: ${leads.map((x) => x.toFixed(2)).join(', ')} s`,
        `the working-set warning near_limit for the same leaks, measured the same way: ${nearLeads.length === 0 ? 'never logged' : `${nearLeads.map((x) => x.toFixed(2)).join(', ')} s before the kill (${nearLeads.length} of ${runs})`}`,
        `page cache: a 56 MiB file written at 8 MiB/s in the cgroup, then re-read with cat for the rest of ${seconds} s; usage at the end ${usage === undefined ? '?' : (usage / M).toFixed(1)} MiB; early warnings logged: ${falseAlarms} (the working-set warning near_limit, for comparison: ${nearLimit})`,
      ],
    };
  } finally {
    await cleanup();
    files.remove();
  }
}
