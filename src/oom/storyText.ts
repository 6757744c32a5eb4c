/**
 * A kill's story (story.ts) in plain words (pure). Sizes as every CLI table prints them
 * (cgroup/size.ts), times as RFC 3339 UTC. Each sentence is made from a field of the story; a
 * field that is null is either left out (with its reason in "Not in the input") or said unknown.
 */
import { formatBytes } from '../cgroup/size.js';
import type { LimitFired } from './limit.js';
import type { Story, StoryCandidate, StoryCounter, StoryPart } from './story.js';

const size = (n: number | 'max'): string => (n === 'max' ? 'max' : formatBytes(n));
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
/** A comm quoted; a partial kill line may have lost it. */
const q = (s: string | null): string => (s === null ? '(name not readable)' : JSON.stringify(s));

function when(s: Story): string {
  if (s.kill_time !== null) return `at ${s.kill_time}`;
  if (s.kernel_time_us !== null) return `${(s.kernel_time_us / 1e6).toFixed(6)} s after boot (wall-clock time unknown)`;
  return 'at an unknown time';
}

function owner(s: Story): string[] {
  const o = s.owner;
  const out: string[] = [];
  if (o.pod_uid !== null || o.pod !== null) {
    const name = o.pod === null ? null : o.namespace === null ? o.pod : `${o.namespace}/${o.pod}`;
    const what = [name, o.pod_uid === null ? null : `uid ${o.pod_uid}`, o.pod_qos === null ? null : `QoS ${o.pod_qos}`].filter((x) => x !== null);
    out.push(`pod ${what.join(', ')}`);
  }
  if (o.container_id !== null || o.container !== null || o.container_name !== null) {
    const name = o.container ?? o.container_name;
    const id = o.container_id === null ? null : o.container_id.slice(0, 12);
    const label = [name, name === null ? id : id === null ? null : `(${id})`].filter((x) => x !== null).join(' ');
    out.push(`${o.runtime ?? 'container'}${o.runtime === null ? '' : ' container'} ${label}${o.image === null ? '' : `, image ${o.image}`}`);
  }
  if (o.unit !== null && o.container_id === null) out.push(`systemd unit ${o.unit}`);
  return out;
}

const LIMIT_WORDS: Record<LimitFired, string> = {
  container: "the container's own memory limit",
  pod: "the pod's memory limit",
  node: "the node's limit for all pods (kubepods)",
  ancestor: 'the limit of an ancestor cgroup, shared with everything below it',
  own: "its own cgroup's memory limit",
  none: 'no cgroup limit: the whole system ran out of memory',
};

function counterText(c: StoryCounter): string {
  if (c.limit_bytes === 'max') return `${size(c.usage_bytes)}, no limit`;
  const share = c.limit_bytes === 0 ? '' : ` (${pct(c.usage_bytes / c.limit_bytes)})`;
  return `${size(c.usage_bytes)} of a ${size(c.limit_bytes)} limit${share}`;
}

function limitLines(s: Story): string[] {
  const l = s.limit;
  const out: string[] = [];
  if (l.fired !== null) out.push(`It hit ${LIMIT_WORDS[l.fired]}.`);
  else if (l.scope === 'cgroup') out.push("A memory cgroup's limit was hit; the input does not say whose.");
  else if (l.scope === null) out.push('The input does not say which limit was hit.');
  if (l.oom_cgroup !== null) out.push(`The cgroup at its limit: ${l.oom_cgroup}`);
  if (l.constraint !== null) out.push(`The kernel's constraint: ${l.constraint}.`);
  if (l.memory !== null) {
    out.push(`Usage ${counterText(l.memory)} at the OOM; the limit had been hit ${l.memory.failcnt} time${l.memory.failcnt === 1 ? '' : 's'} (failcnt).`);
  }
  if (l.memsw !== null) out.push(`memory+swap: ${counterText(l.memsw)}${l.memsw_at_limit ? ': at its limit' : ''}.`);
  if (l.swap !== null) out.push(`swap: ${counterText(l.swap)}.`);
  if (l.kmem !== null) out.push(`kernel memory (kmem): ${size(l.kmem.usage_bytes)}.`);
  return out;
}

const PART_WORDS: Record<StoryPart['kind'], string> = {
  anon: 'anonymous',
  page_cache: 'page cache',
  shmem: 'shmem/tmpfs',
  kernel: 'kernel',
  sock: 'sockets',
  not_broken_down: 'not broken down',
};

function compositionLines(s: Story): string[] {
  const c = s.composition;
  if (c === null) return [];
  const of =
    c.source === 'system'
      ? `the system's Mem-Info${c.total_is === 'ram' ? `; shares of its ${size(c.total_bytes)} of usable RAM (pages RAM - reserved)` : ''}`
      : `the OOM cgroup's ${c.source === 'cgroup-v2' ? 'v2' : 'v1'} stat block` +
        (c.subtree === true ? ', its whole subtree (total_* keys)' : c.subtree === false ? ", the cgroup's own pages only (no total_* keys: child cgroups not included)" : '') +
        (c.total_is === 'usage' ? `; shares of the ${size(c.total_bytes)} usage` : '; shares of the parts\' sum (the usage line was not in the input)');
  const out = [`(from ${of})`];
  if (c.parts.length === 0) out.push('every part was 0');
  for (const p of c.parts) out.push(`${PART_WORDS[p.kind].padEnd(16)} ${size(p.bytes).padStart(8)} ${pct(p.share).padStart(6)}   ${p.from}`);
  const d = Object.entries(c.detail);
  if (d.length > 0) out.push(`details: ${d.map(([k, v]) => `${k} ${size(v)}`).join(', ')}`);
  if (c.source === 'system') {
    const free = [
      c.free_bytes === null ? null : `free ${size(c.free_bytes)}`,
      c.swap_total_bytes === null ? null : c.swap_total_bytes === 0 ? 'no swap' : `swap ${size(c.swap_free_bytes ?? 0)} free of ${size(c.swap_total_bytes)}`,
    ].filter((x) => x !== null);
    if (free.length > 0) out.push(`at the OOM: ${free.join(', ')}`);
  }
  return out;
}

const who = (c: StoryCandidate): string => `pid ${c.pid} ${q(c.process)}`;

function candidateLines(s: Story): string[] {
  const c = s.candidates;
  if (c === null) return [];
  const out: string[] = [];
  const n = c.total ?? c.kept.length;

  const rank = c.victim_rank;
  const victim = rank === null ? null : (c.kept[rank] as StoryCandidate);
  if (victim === null || rank === null) {
    out.push(`It was not among the ${c.kept.length} tasks with the most points (of ${n} in the report's table).`);
  } else if (rank === 0) {
    if (n === 1) out.push(`It was the only task in the report's table: ${victim.badness ?? 'unknown'} points.`);
    else if (c.next === null || c.next.badness === null) out.push(`It had the most points of the ${n} tasks in the report's table: ${victim.badness ?? 'unknown'}.`);
    else if (c.ratio_to_next !== null && victim.badness === c.next.badness) out.push(`It tied with ${who(c.next)} at ${victim.badness} points; the kernel takes the later task of its table.`);
    else out.push(`It had the most points of the ${n} tasks in the report's table: ${victim.badness ?? 'unknown'}, ${c.ratio_to_next === null ? 'against' : `${c.ratio_to_next.toFixed(1)}× those of`} the next, ${who(c.next)} (${c.next.badness}).`);
  } else {
    const first = c.kept[0] as StoryCandidate;
    out.push(
      s.group.group_kill
        ? `The kernel chose ${who(first)} (${first.badness ?? 'unknown'} points); this process (${victim.badness ?? 'unknown'} points) died with it because the group is killed together.`
        : `It ranked ${rank + 1} of the ${n} tasks by points (${victim.badness ?? 'unknown'} against ${first.badness ?? 'unknown'} for ${who(first)}); the report does not say why it was chosen first.`,
    );
  }
  out.push('Points are what mm/oom_kill.c oom_badness() counts: rss + swap entries + page-table pages, plus oom_score_adj × (the limit or RAM+swap in pages) / 1000.');
  const adjusted = c.kept.filter((k) => k.oom_score_adj !== null && k.oom_score_adj !== 0);
  if (c.adj_changed_order === true && c.first_without_adj !== null) {
    out.push(`oom_score_adj changed the order: without it ${who(c.first_without_adj)} would have had the most points (${c.first_without_adj.points_without_adj}).`);
  } else if (c.adj_changed_order === false && adjusted.length > 0 && c.kept.length > 1) {
    out.push(`oom_score_adj (${adjusted.map((k) => `${k.pid}: ${k.oom_score_adj}`).join(', ')}) did not change who came first among the kept tasks.`);
  } else if (c.adj_changed_order === false && c.kept.length > 1) {
    out.push('No kept task had an oom_score_adj: the order is by size alone.');
  }
  if (c.exempt.length > 0) out.push(`Never killed (oom_score_adj -1000): pid ${c.exempt.join(', ')}.`);
  out.push('');
  out.push(c.total !== null && c.total > c.kept.length ? `The first ${c.kept.length} of the ${c.total} tasks, in the kernel's order:` : "The report's tasks, in the kernel's order:");
  out.push(`${'PID'.padStart(8)} ${'PROCESS'.padEnd(16)} ${'POINTS'.padStart(9)} ${'WITHOUT ADJ'.padStart(11)} ${'ADJ'.padStart(5)} ${'RSS'.padStart(8)}`);
  for (const k of c.kept) {
    out.push(
      `${String(k.pid).padStart(8)} ${q(k.process).slice(1, -1).padEnd(16)} ${String(k.badness ?? '-').padStart(9)} ${String(k.points_without_adj ?? '-').padStart(11)} ${String(k.oom_score_adj ?? '-').padStart(5)} ${(k.rss_bytes === null ? '-' : size(k.rss_bytes)).padStart(8)}${k.victim ? '  <- killed' : ''}`,
    );
  }
  return out;
}

function groupLines(s: Story): string[] {
  const g = s.group;
  if (!g.group_kill) {
    return [g.report_seen ? 'Nobody else: the kernel killed only this process for this OOM (no memory.oom.group kill).' : "Unknown: the kill's report was not in the input."];
  }
  if (g.killed_with_it.length === 0) return ['memory.oom.group was set: the kernel killed every process of the cgroup; no other kill of this report is in the input.'];
  const out = [`memory.oom.group was set: the kernel killed ${g.killed_with_it.length} other process${g.killed_with_it.length === 1 ? '' : 'es'} with it:`];
  for (const k of g.killed_with_it) out.push(`  pid ${k.pid} ${q(k.process)}${k.victim_cgroup === null ? '' : ` in ${k.victim_cgroup}`}`);
  return out;
}

/** The story as text for a terminal, with its trailing newline. */
export function storyText(s: Story): string {
  const out: string[] = [];
  out.push(`The kernel's OOM killer killed pid ${s.pid} ${q(s.process)}${s.uid === null ? '' : ` (uid ${s.uid})`} ${when(s)}.`);
  const facts = [
    s.seq === null ? null : `kernel log record ${s.seq}`,
    s.detected_at === null ? null : `found by the daemon at ${s.detected_at}`,
    s.trigger_process === null ? null : `the task whose allocation invoked the OOM killer: ${q(s.trigger_process)}`,
  ].filter((x) => x !== null);
  if (facts.length > 0) out.push(`(${facts.join('; ')})`);
  const section = (title: string, lines: string[]): void => {
    if (lines.length === 0) return;
    out.push('', title);
    for (const l of lines) out.push(l === '' ? '' : `  ${l}`);
  };
  const where: string[] = [];
  if (s.victim_cgroup !== null) where.push(`cgroup   ${s.victim_cgroup}`);
  for (const o of owner(s)) where.push(`owner    ${o}`);
  if (s.rss.total_bytes !== null) {
    where.push(
      `rss      ${size(s.rss.total_bytes)} (anon ${size(s.rss.anon_bytes ?? 0)}` +
        (s.rss.file_bytes === null ? '' : `, file ${size(s.rss.file_bytes)}`) +
        (s.rss.shmem_bytes === null ? '' : `, shmem ${size(s.rss.shmem_bytes)}`) +
        ')' +
        (s.rss.page_tables_bytes === null ? '' : `; page tables ${size(s.rss.page_tables_bytes)}`),
    );
  }
  if (s.oom_score_adj !== null) where.push(`oom_score_adj ${s.oom_score_adj}`);
  if (s.main_process !== null) where.push(s.main_process ? "it was its container's init process: the container stopped" : "it was not its container's init process");
  section('Where', where);
  section('Which limit', limitLines(s));
  section('What the memory was made of', compositionLines(s));
  section('Why this process', candidateLines(s));
  section('Who died with it', groupLines(s));
  section('What to change', s.advice.map((a) => `- ${a.text}`));
  section('Not in the input', s.missing.map((m) => `- ${m}`));
  return `${out.join('\n')}\n`;
}
