/**
 * Capture real cgroup v2 OOM reports in the VM for test/fixtures/oom/v2-real/ (run by
 * test/fixtures/oom/v2-real/capture.sh through `bash test/vm/run dist/test/vm/capture/v2-oom.js`;
 * not part of the suite). Prints each kept raw /dev/kmsg record line as `@@capture NAME LINE` and
 * what the capture knows independently of the log (pids, cgroups, memory.events) as
 * `@@meta NAME JSON`, on stdout, which the serial console carries to the host.
 *
 * Kept per capture: from the `invoked oom-killer` header of the report that killed our hog to the
 * last record naming one of our pids (one SEQ range, nothing dropped inside it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CGROUP2, HOG, cgKeyed, exited, kmsgRecords, makeCg, removeTree, spawnIn, spawnSleeper,
} from '../guest.js';

const MiB = 1024 * 1024;

function emit(name: string, pids: readonly number[], meta: Record<string, unknown>): void {
  const records = kmsgRecords();
  const seqOf = (r: string): number => Number(r.split(',')[1]);
  const msgOf = (r: string): string => r.slice(r.indexOf(';') + 1).split('\n')[0] ?? '';
  const names = (r: string): boolean => pids.some((p) => new RegExp(`(process |pid=)${p}[ ,)]`).test(msgOf(r)));
  const last = records.findLastIndex(names);
  if (last < 0) throw new Error(`${name}: no record names ${pids.join(', ')}`);
  const summary = records.findIndex((r) => msgOf(r).startsWith('oom-kill:') && names(r));
  let first = summary;
  while (first > 0 && !/ invoked oom-killer: /.test(msgOf(records[first] as string))) first--;
  if (first < 0 || summary < 0) throw new Error(`${name}: no report header/summary for ${pids.join(', ')}`);
  const kept = records.slice(first, last + 1);
  for (let i = 1; i < kept.length; i++) {
    if (seqOf(kept[i] as string) !== seqOf(kept[i - 1] as string) + 1) throw new Error(`${name}: SEQ gap inside the capture`);
  }
  for (const r of kept) for (const line of r.replace(/\n$/, '').split('\n')) console.log(`@@capture ${name} ${line}`);
  console.log(`@@meta ${name} ${JSON.stringify({ ...meta, pids, seq: [seqOf(kept[0] as string), seqOf(kept.at(-1) as string)] })}`);
}

async function settle(): Promise<void> {
  // The oom_reaper line comes a little after the kill.
  await new Promise((r) => setTimeout(r, 500));
}

// 1. A memcg OOM: the limit on the parent, the hog in a child (oom_memcg != task_memcg).
makeCg('cap-memcg', { 'memory.max': String(32 * MiB) });
makeCg('cap-memcg/work');
try {
  const hog = spawnIn('cap-memcg/work', HOG);
  const r = await exited(hog);
  if (r.signal !== 'SIGKILL') throw new Error(`memcg hog: ${JSON.stringify(r)}`);
  await settle();
  emit('memcg', [hog.pid as number], {
    hog: hog.pid,
    limit: '/cap-memcg 32M',
    'cap-memcg memory.events': cgKeyed('cap-memcg', 'memory.events'),
    'cap-memcg/work memory.events.local': cgKeyed('cap-memcg/work', 'memory.events.local'),
  });
} finally {
  await removeTree('cap-memcg');
}

// 2. A group kill: memory.oom.group=1 and the limit on cap-group; the hog and one sleeper in
//    cap-group/a, another sleeper in cap-group/b: three processes, all killed.
makeCg('cap-group', { 'memory.max': String(32 * MiB), 'memory.oom.group': '1' });
makeCg('cap-group/a');
makeCg('cap-group/b');
const sleepers = [spawnSleeper(), spawnSleeper()];
try {
  writeFileSync(join(CGROUP2, 'cap-group/a', 'cgroup.procs'), String(sleepers[0]?.pid));
  writeFileSync(join(CGROUP2, 'cap-group/b', 'cgroup.procs'), String(sleepers[1]?.pid));
  const hog = spawnIn('cap-group/a', HOG);
  const r = await exited(hog);
  if (r.signal !== 'SIGKILL') throw new Error(`group hog: ${JSON.stringify(r)}`);
  for (const s of sleepers) if ((await exited(s)).signal !== 'SIGKILL') throw new Error('a sleeper survived the group kill');
  await settle();
  emit('group-kill', [hog.pid as number, ...sleepers.map((s) => s.pid as number)], {
    hog: hog.pid,
    sleeper_a: sleepers[0]?.pid,
    sleeper_b: sleepers[1]?.pid,
    'cap-group memory.events': cgKeyed('cap-group', 'memory.events'),
    'cap-group/a memory.events.local': cgKeyed('cap-group/a', 'memory.events.local'),
    'cap-group/b memory.events.local': cgKeyed('cap-group/b', 'memory.events.local'),
  });
} finally {
  for (const s of sleepers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  await removeTree('cap-group');
}

// 3. A system OOM (no cgroup limit): a hog bigger than what the VM has free, made the OOM
//    killer's first choice with oom_score_adj 1000.
makeCg('cap-global');
try {
  const hog = spawnIn('cap-global', ['sh', '-c', 'echo 1000 > /proc/self/oom_score_adj && exec dd if=/dev/zero of=/dev/null bs=440M count=1']);
  const r = await exited(hog);
  if (r.signal !== 'SIGKILL') throw new Error(`global hog: ${JSON.stringify(r)}`);
  await settle();
  emit('global-oom', [hog.pid as number], {
    hog: hog.pid,
    'cap-global memory.events': cgKeyed('cap-global', 'memory.events'),
  });
} finally {
  await removeTree('cap-global');
}
