/**
 * Run the kill path at start, on a made-up report, so that the first real kill does not pay for
 * it. V8 compiles a function the first time it runs: measured in the daemon, the first OOM report
 * after a start took 5–8 ms more from record to log line than the ones after it (reading and
 * parsing ~100 records through code that had never run; bench/README.md). Run once, the code stays
 * in V8's first tiers; run {@link WARM_UP_ROUNDS} times, V8 optimizes it.
 *
 * The report is a real v1 memcg report (test/fixtures/oom/k8s-cgroupfs.kmsg) cut to the records
 * the parser looks at, in raw /dev/kmsg form, through the same functions a live record goes
 * through: parseKmsgRecord, feedKmsgEvents, OomReportParser, owner resolution. Its cgroup is one of
 * {@link WARM_UP_CGROUPS}, one layout a round: owner resolution tries a regex per layout, and V8
 * compiles a regex the first time it runs and again, to machine code, when it runs more (measured
 * after a warm-up on one layout: a first systemd-driver pod path 0.18–0.27 ms, a first docker scope
 * 0.14–1.2 ms; bench/README.md). Nothing it produces leaves this module.
 */
import { parseKmsgRecord } from '../kmsg/record.js';
import type { KmsgEvent } from '../kmsg/reader.js';
import type { OomKillEvent } from './event.js';
import { feedKmsgEvents } from './kmsgFeed.js';
import { OomReportParser } from './report.js';

const ID = '9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';
const POD = '7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f';
const SYSTEMD_POD = POD.replaceAll('-', '_');

/**
 * A cgroup of each layout owner resolution knows (src/oom/owner.ts): kubelet's cgroupfs and systemd
 * drivers, each runtime's scope, docker's cgroupfs directory, the colon form, a plain service.
 */
export const WARM_UP_CGROUPS: readonly string[] = [
  `/kubepods/besteffort/pod${POD}/${ID}`,
  `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SYSTEMD_POD}.slice/cri-containerd-${ID}.scope`,
  `/kubepods.slice/kubepods-pod${SYSTEMD_POD}.slice/crio-${ID}.scope`,
  `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SYSTEMD_POD}.slice:cri-containerd:${ID}`,
  `/system.slice/docker-${ID}.scope`,
  `/docker/${ID}`,
  `/machine.slice/libpod-${ID}.scope`,
  '/system.slice/cron.service',
];

function report(cg: string): string[] {
  return [
    '4,1,1000,-;dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
    '4,2,1010,-;CPU: 1 UID: 0 PID: 5961 Comm: dd Not tainted 6.18.44 #1 PREEMPT(none) ',
    '4,3,1020,-;Call Trace:',
    '4,4,1030,-; dump_stack_lvl+0x57/0x80',
    '6,5,1040,-;memory: usage 65536kB, limit 65536kB, failcnt 19',
    '6,6,1050,-;memory+swap: usage 65536kB, limit 9007199254740988kB, failcnt 0',
    '6,7,1060,-;kmem: usage 196kB, limit 9007199254740988kB, failcnt 0',
    `6,8,1070,-;Memory cgroup stats for ${cg}:`,
    '6,9,1080,-;rss 66908160',
    '6,10,1090,-;Tasks state (memory values in pages):',
    '6,11,1100,-;[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name',
    '6,12,1110,-;[   5961]     0  5961    33512    16762    16320      442         0   180224        0             0 dd',
    `6,13,1120,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=${cg},task_memcg=${cg},task=dd,pid=5961,uid=0`,
    '3,14,1130,-;Memory cgroup out of memory: Killed process 5961 (dd) total-vm:134048kB, anon-rss:65280kB, file-rss:1768kB, shmem-rss:0kB, UID:0 pgtables:176kB oom_score_adj:0',
  ].map((r) => `${r}\n`);
}

const REPORTS = WARM_UP_CGROUPS.map(report);

/**
 * How many times the daemon runs the made-up report at start: enough for V8 to optimize the
 * parsing of a report (≈ 20 ms at start). Measured in the daemon, from the start of the drain that
 * read a report to the kill's detected_mono_us, median of 30 kills: ≈ 1.23 ms after one round,
 * ≈ 1.0 ms after 100 or 300 (bench/README.md).
 */
export const WARM_UP_ROUNDS = 100;

/**
 * Feed the made-up report through the kill path, in the cgroup of round `round` (WARM_UP_CGROUPS,
 * in turn); returns the kill it yields (one).
 */
export function warmUpKillPath(round = 0): OomKillEvent[] {
  const kills: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => kills.push(e) });
  const raws = REPORTS[round % REPORTS.length] as string[];
  const events: KmsgEvent[] = raws.map((raw) => ({ type: 'record', record: parseKmsgRecord(raw, 'warm-up') }));
  feedKmsgEvents(parser, events);
  parser.idle();
  return kills;
}
