/**
 * `oomwatch kills`: the kills the daemon recorded in its state directory (`kills.jsonl`, written
 * by src/daemon/recentKills.ts), newest last: a table, or with --json the recorded kills.
 */
import type { Command } from 'commander';
import { formatBytes } from '../cgroup/size.js';
import { DEFAULT_CONFIG } from '../daemon/config.js';
import { parseDuration } from '../daemon/duration.js';
import { loadRecentKills, type RecordedKill } from '../daemon/recentKills.js';
import { action } from './common.js';
import { timeLabel } from './killOutput.js';

interface KillsOptions {
  since?: string;
  json?: boolean;
  stateDir: string;
}

/**
 * A kill found later than this after it happened was found after a restart (or a daemon that
 * was stopped): a live kill is found within milliseconds, at worst a grace period of the ledger
 * (2 poll intervals + 0.5 s) when its report named no cgroup.
 */
const FOUND_LATE_MS = 5_000;

/** When a kill happened (ms): its kill_time, else when the daemon found it. */
function killMs(k: RecordedKill): number {
  const t = k.event.kill_time === null ? NaN : Date.parse(k.event.kill_time);
  return Number.isFinite(t) ? t : Date.parse(k.detected_at);
}

/** `+4m05s` when the kill was found FOUND_LATE_MS or more after it happened; `live` otherwise; `?` without a kill_time. */
export function foundLabel(k: RecordedKill): string {
  if (k.event.kill_time === null) return '?';
  const late = Date.parse(k.detected_at) - Date.parse(k.event.kill_time);
  if (!(late >= FOUND_LATE_MS)) return 'live';
  const s = Math.round(late / 1000);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  const sec = String(s % 60).padStart(2, '0');
  if (d > 0) return `+${d}d${String(h).padStart(2, '0')}h`;
  if (h > 0) return `+${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `+${m}m${sec}s` : `+${s}s`;
}

/** Who the kill's cgroup belongs to: namespace/pod/container, the runtime's container name, the unit. */
function ownerLabel(k: RecordedKill): string {
  const { namespace, pod, container, container_name: name } = k.names;
  if (pod !== null) return `${namespace ?? '?'}/${pod}${container === null ? '' : `/${container}`}`;
  if (name !== null) return name;
  if (k.event.container_id !== null) return `${k.event.runtime ?? 'container'} ${k.event.container_id.slice(0, 12)}`;
  return k.event.unit ?? '-';
}

/** The OOM cgroup's usage/limit as the kernel's report printed them. */
function memoryLabel(k: RecordedKill): string {
  const m = k.event.memory;
  if (m === null) return '-';
  return `${formatBytes(m.usage)}/${m.limit === 'max' ? 'max' : formatBytes(m.limit)}`;
}

const COLUMNS = [
  ['TIME (UTC)', 24], ['FOUND', 8], ['PID', -8], ['PROCESS', 16], ['LIMIT', 9], ['USAGE/LIMIT', 15], ['OWNER', 24],
] as const;

function row(cells: readonly string[], last: string): string {
  const fixed = COLUMNS.map(([, w], i) => (w < 0 ? (cells[i] as string).padStart(-w) : (cells[i] as string).padEnd(w)));
  return `${fixed.join(' ')} ${last}\n`;
}

/** The table: a header, then one row per kill (the cgroup last, as it is as long as it is). */
export function killsTable(kills: readonly RecordedKill[]): string {
  let out = row(COLUMNS.map(([h]) => h), 'CGROUP');
  for (const k of kills) {
    const e = k.event;
    const cgroup = e.victim_cgroup ?? (e.oom_cgroup === null ? '-' : `(limit) ${e.oom_cgroup}`);
    out += row(
      [timeLabel(e), foundLabel(k), String(e.pid), JSON.stringify(e.process).slice(1, -1), k.names.limit ?? '-', memoryLabel(k), ownerLabel(k)],
      `${cgroup}${e.group_kill ? ' [group]' : ''}`,
    );
  }
  return out;
}

/** The recorded kills that happened within `sinceMs` of `nowMs` (all without), newest last. */
export function selectKills(kills: readonly RecordedKill[], sinceMs: number | undefined, nowMs: number): RecordedKill[] {
  const from = sinceMs === undefined ? -Infinity : nowMs - sinceMs;
  // Stable: kills found together keep the order the daemon recorded them in.
  return kills.filter((k) => killMs(k) >= from).sort((a, b) => killMs(a) - killMs(b));
}

export function registerKills(program: Command): void {
  program
    .command('kills')
    .description('the OOM kills the daemon recorded (kills.jsonl in its state directory), newest last')
    .option('--since <duration>', 'only the kills of this last span of time, e.g. 30m, 1h, 2d')
    .option('--json', 'one JSON object per kill (JSON Lines): {event, names, detected_at}')
    .option('--state-dir <dir>', "the daemon's state directory (its state_dir setting or --state-dir)", DEFAULT_CONFIG.stateDir)
    .addHelpText(
      'after',
      `
The daemon (oomwatch daemon) records every OOM kill it logs in <state_dir>/kills.jsonl: the last
1000 kills of the last 30 days unless its config says otherwise (recent_kills: {keep, max_age}).
A kill that happened while the daemon was down is found when it starts again (it resumes the
kernel log where it stopped) and recorded once, with the time it happened.
Reading it needs no root unless the directory is 0700 (oomwatch.service makes it so: sudo).

Columns:
  TIME (UTC)   when the kernel killed it (kill_time: the kernel's timestamp on the wall clock)
  FOUND        live, or how long after the kill the daemon found it (+4m05s: it was not
               running then, and found the kill in the kernel log when it started)
  PID PROCESS  the process the kernel killed
  LIMIT        whose memory limit fired: container, pod, node (kubepods), own (the process's
               own cgroup or unit), ancestor (a cgroup above), none (the host ran out of memory)
  USAGE/LIMIT  the OOM cgroup's usage and limit as the kernel's report printed them
  OWNER        namespace/pod/container, a container's name, or the systemd unit, when known
  CGROUP       the killed process's cgroup ("(limit) PATH": only the OOM cgroup is known)

--json prints each kill as the daemon recorded it: event (the same keys as oomwatch parse
--json, with the kernel's account: memory, memory_stat, candidates), names (namespace, pod,
container, image, container_name, limit, main_process; null where unknown) and detected_at
(when the daemon found it, RFC 3339).

Examples:
  oomwatch kills
  oomwatch kills --since 1h
  oomwatch kills --json | jq 'select(.names.namespace == "shop") | .event.pid'
  oomwatch kills --state-dir /var/lib/oomwatch-test`,
    )
    .action(
      action((opts: KillsOptions) => {
        const sinceMs = opts.since === undefined ? undefined : parseDuration(opts.since, '--since', { days: true });
        const { file, kills, skipped } = loadRecentKills(opts.stateDir);
        if (skipped > 0) process.stderr.write(`oomwatch: ${file}: ${skipped} line(s) that are not a whole kill record passed over (a write cut short by a crash)\n`);
        const shown = selectKills(kills, sinceMs, Date.now());
        if (shown.length === 0) {
          const none = `no OOM kills recorded in ${file}${sinceMs === undefined ? '' : ` in the last ${opts.since as string}`}${kills.length > 0 ? ` (${kills.length} older)` : ''}\n`;
          // With --json, stdout stays what a script parses: nothing.
          (opts.json ? process.stderr : process.stdout).write(none);
          return 0;
        }
        process.stdout.write(opts.json ? shown.map((k) => `${JSON.stringify(k)}\n`).join('') : killsTable(shown));
        return 0;
      }),
    );
}
