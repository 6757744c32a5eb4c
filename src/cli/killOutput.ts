/**
 * How the CLI prints kill events: one table row, or one JSON object, per kill. Shared by
 * `oomwatch parse` and `oomwatch tail`, so that both print exactly the same thing for a kill.
 */
import { formatKb } from '../cgroup/size.js';
import type { OomKillEvent } from '../oom/event.js';

/** Fixed-width columns so that rows can be printed as kills arrive. */
export function tableHeader(): string {
  return `${'TIME'.padEnd(14)} ${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'SCOPE'.padEnd(6)} ${'RSS'.padStart(9)}  ${'OWNER'.padEnd(24)} CGROUP\n`;
}

/** The owner in one short word: pod (and container), else container, else unit. */
export function ownerLabel(e: OomKillEvent): string {
  if (e.pod_uid !== null) return `pod ${e.pod_uid.slice(0, 8)}${e.container_id === null ? '' : `/${e.container_id.slice(0, 12)}`}`;
  if (e.container_id !== null) return `${e.runtime ?? 'container'} ${e.container_id.slice(0, 12)}`;
  return e.unit ?? '-';
}

/** One table row (with its newline). */
export function tableRow(e: OomKillEvent): string {
  const time =
    e.kernel_time_us !== null ? `[${(e.kernel_time_us / 1e6).toFixed(6)}]` : e.seq !== null ? `#${e.seq}` : '-';
  const rss =
    e.anon_rss_kb === null ? '-' : formatKb(e.anon_rss_kb + (e.file_rss_kb ?? 0) + (e.shmem_rss_kb ?? 0));
  const scope = e.scope ?? '?';
  const cgroup = e.victim_cgroup ?? (e.oom_cgroup === null ? '-' : `(limit) ${e.oom_cgroup}`);
  const group = e.group_kill ? ' [group]' : '';
  return `${time.padEnd(14)} ${String(e.pid).padStart(8)} ${JSON.stringify(e.process).slice(1, -1).padEnd(16)} ${scope.padEnd(6)} ${rss.padStart(9)}  ${ownerLabel(e).padEnd(24)} ${cgroup}${group}\n`;
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
