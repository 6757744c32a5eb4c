/**
 * How the CLI prints kill events: one table row, or one JSON object, per kill. Shared by
 * `oomwatch parse` and `oomwatch tail`, so that both print exactly the same thing for a kill.
 */
import { formatKb } from '../cgroup/size.js';
import type { OomKillEvent } from '../oom/event.js';

/** `2026-11-28T05:27:58.000Z`: kill_time to the millisecond. */
const TIME_WIDTH = 24;

/** Fixed-width columns so that rows can be printed as kills arrive. */
export function tableHeader(): string {
  return `${'TIME'.padEnd(TIME_WIDTH)} ${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'SCOPE'.padEnd(6)} ${'RSS'.padStart(9)}  ${'OWNER'.padEnd(24)} CGROUP\n`;
}

/** The owner in one short word: pod (and container), else container, else unit. */
export function ownerLabel(e: OomKillEvent): string {
  if (e.pod_uid !== null) return `pod ${e.pod_uid.slice(0, 8)}${e.container_id === null ? '' : `/${e.container_id.slice(0, 12)}`}`;
  if (e.container_id !== null) return `${e.runtime ?? 'container'} ${e.container_id.slice(0, 12)}`;
  return e.unit ?? '-';
}

/**
 * The kill's time for a human: the wall clock (UTC) when known, else the kernel timestamp
 * (seconds since boot), else the record's SEQ.
 */
export function timeLabel(e: OomKillEvent): string {
  if (e.kill_time !== null) return `${e.kill_time.slice(0, 23)}Z`;
  if (e.kernel_time_us !== null) return `[${(e.kernel_time_us / 1e6).toFixed(6)}]`;
  return e.seq !== null ? `#${e.seq}` : '-';
}

/** One table row (with its newline). */
export function tableRow(e: OomKillEvent): string {
  const time = timeLabel(e);
  const rss =
    e.anon_rss_kb === null ? '-' : formatKb(e.anon_rss_kb + (e.file_rss_kb ?? 0) + (e.shmem_rss_kb ?? 0));
  const scope = e.scope ?? '?';
  const cgroup = e.victim_cgroup ?? (e.oom_cgroup === null ? '-' : `(limit) ${e.oom_cgroup}`);
  const group = (e.group_kill ? ' [group]' : '') + (e.possibly_child ? ' [or a child]' : e.partial ? ' [partial]' : '');
  const process = e.process === null ? '?' : JSON.stringify(e.process).slice(1, -1);
  return `${time.padEnd(TIME_WIDTH)} ${String(e.pid).padStart(8)} ${process.padEnd(16)} ${scope.padEnd(6)} ${rss.padStart(9)}  ${ownerLabel(e).padEnd(24)} ${cgroup}${group}\n`;
}

/** One JSON Lines line (with its newline): the event's keys in contract order. */
export function jsonLine(e: OomKillEvent): string {
  return `${JSON.stringify(e)}\n`;
}

/**
 * A printer for a stream of kills: JSON Lines, or a table whose header comes with its first row
 * (no kills, no table).
 */
export function killPrinter(json: boolean): (e: OomKillEvent) => string {
  if (json) return jsonLine;
  let rows = 0;
  return (e) => (rows++ === 0 ? tableHeader() : '') + tableRow(e);
}
