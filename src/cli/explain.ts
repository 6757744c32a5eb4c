import { InvalidArgumentError, type Command } from 'commander';
import { OomwatchError, UsageError } from '../errors.js';
import { DEFAULT_CONFIG } from '../daemon/config.js';
import { readRecentKills, recentKillsFile } from '../daemon/recentKills.js';
import type { OomKillEvent } from '../oom/event.js';
import { groupSiblings, killStory, type Story, type StoryNames } from '../oom/story.js';
import { storyText } from '../oom/storyText.js';
import { action } from './common.js';
import { readKernelLogs, type KernelLogOptions } from './parse.js';

const HELP = `
Tells one OOM kill's story from what the kernel's report said about it: which process, in
which cgroup and whose (unit, container, pod), which limit fired (the container's, the pod's,
the node's, an ancestor's, its own, or none: the system) at what usage, what the memory was
made of (anonymous, page cache, shmem, kernel, sockets: from the report's stat block, or a
system OOM's Mem-Info), why the kernel chose this process (its points against the next
ones, and whether oom_score_adj changed the order), who died with it (memory.oom.group), and
what to change. Nothing is guessed: what the input lacks is listed under "Not in the input".

Where the kill comes from:
  FILE, or - for standard input: a kernel log in any form \`oomwatch parse\` reads (raw
      /dev/kmsg records, dmesg -x/-r/-T, journalctl -k, syslog, bare text), read the same
      way (--boot-time and --year as there). A report cut off before its kill line has no
      kill to explain: keep the log from the "invoked oom-killer" line on.
  no FILE: the kills the daemon recorded in its state directory (--state-dir, the
      daemon's state_dir), with the daemon's names for them (namespace, pod, container,
      image; whether it was the container's init process).

Which kill: --pid N, --seq N (raw /dev/kmsg records only), or --last. Without one: the last
kill, and a note on stderr of how many others there are and how to pick them. A pid killed
more than once: the last of its kills, with a note.

--json prints the same story as one JSON object: pid, process, uid, kill_time, rss, owner,
limit (fired, oom_cgroup, usage/limit/failcnt in bytes), composition (parts largest first,
each with its share and the stat keys it was computed from), candidates (kept, victim_rank,
ratio_to_next, adj_changed_order), group, advice [{kind, text}], missing [text].

Examples:
  sudo dmesg -x | oomwatch explain -                  the last kill in this boot's log
  oomwatch explain --pid 5736 saved-dmesg.txt          one kill of a saved log
  journalctl -k -b -1 | oomwatch explain - --last      the last kill of the previous boot
  oomwatch explain                                     the daemon's last recorded kill
  oomwatch explain --state-dir /var/lib/oomwatch --pid 4242 --json | jq .advice`;

interface ExplainOptions extends KernelLogOptions {
  pid?: number;
  seq?: number;
  last?: boolean;
  json?: boolean;
  stateDir?: string;
}

const count = (what: string) => (v: string): number => {
  if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError(`${what} ${JSON.stringify(v)}: want a whole number, e.g. ${what === '--pid' ? '4242' : '1143'}`);
  return Number(v);
};

/** One kill to explain, from a log or the daemon's record. */
export interface Found {
  events: OomKillEvent[];
  names: Array<StoryNames | null>;
  detectedAt: Array<string | null>;
  /** Where they came from, for messages: the file, or the daemon's record. */
  source: string;
  /** How to get kills into the source, for the no-kill message. */
  noKillHint: string;
}

async function fromLog(file: string, opts: ExplainOptions): Promise<Found> {
  const events: OomKillEvent[] = [];
  const stats = await readKernelLogs([file], opts, (e) => events.push(e));
  const source = file === '-' ? 'standard input' : file;
  const read = `${stats.feed.lines} line${stats.feed.lines === 1 ? '' : 's'} read, ${stats.parser.reports} OOM report${stats.parser.reports === 1 ? '' : 's'}`;
  return {
    events,
    names: events.map(() => null),
    detectedAt: events.map(() => null),
    source,
    noKillHint:
      ` (${read}); give a kernel log that holds the kill line ("Killed process N (comm)"), e.g. \`sudo dmesg -x\`, ` +
      '`journalctl -k -b -1` for the previous boot, or /var/log/kern.log',
  };
}

function fromRecord(stateDir: string): Found {
  const kills = readRecentKills(stateDir);
  return {
    events: kills.map((k) => k.event),
    names: kills.map((k) => k.names),
    detectedAt: kills.map((k) => k.detected_at),
    source: `the daemon's record ${recentKillsFile(stateDir)}`,
    noKillHint:
      `: the daemon has recorded no kill in ${stateDir} (is it running with --state-dir ${stateDir}?); ` +
      'to explain a kill from a kernel log give it as FILE: `sudo dmesg -x | oomwatch explain -` or `oomwatch explain saved-dmesg.txt`',
  };
}

/** The pids of the kills, shortened for a message. */
function pidList(events: readonly OomKillEvent[]): string {
  const pids = [...new Set(events.map((e) => e.pid))];
  return pids.length <= 20 ? pids.join(', ') : `${pids.slice(0, 20).join(', ')} and ${pids.length - 20} more`;
}

/** The index of the kill asked for, and a note for stderr (others there, how to pick them). */
function select(found: Found, opts: ExplainOptions): { index: number; note: string | null } {
  const { events, source } = found;
  if (events.length === 0) throw new OomwatchError('EIO', `no OOM kill in ${source}${found.noKillHint}`);
  const last = events.length - 1;
  if (opts.pid !== undefined) {
    const at = events.flatMap((e, i) => (e.pid === opts.pid ? [i] : []));
    if (at.length === 0) throw new OomwatchError('EIO', `no kill of pid ${opts.pid} in ${source}; the pids killed there: ${pidList(events)}`);
    const i = at[at.length - 1] as number;
    return { index: i, note: at.length === 1 ? null : `pid ${opts.pid} was killed ${at.length} times in ${source}; this is the last${events.some((e) => e.seq !== null) ? ' (pick another with --seq N)' : ''}` };
  }
  if (opts.seq !== undefined) {
    const i = events.findIndex((e) => e.seq === opts.seq);
    if (i >= 0) return { index: i, note: null };
    const seqs = events.flatMap((e) => (e.seq === null ? [] : [e.seq]));
    if (seqs.length === 0) throw new OomwatchError('EIO', `${source} has no record numbers (only raw /dev/kmsg records carry SEQ); pick the kill with --pid N (the pids killed there: ${pidList(events)})`);
    throw new OomwatchError('EIO', `no kill with seq ${opts.seq} in ${source}; the kills' seqs there: ${seqs.slice(0, 20).join(', ')}${seqs.length > 20 ? ' …' : ''}`);
  }
  if (opts.last === true || events.length === 1) return { index: last, note: null };
  return {
    index: last,
    note: `${source} holds ${events.length} kills; this is the last (pid ${(events[last] as OomKillEvent).pid}). The ${events.length - 1} other${events.length === 2 ? '' : 's'}: pid ${pidList(events.slice(0, last))}; pick one with --pid N${events.some((e) => e.seq !== null) ? ' or --seq N' : ''}`,
  };
}

export function explainFound(found: Found, opts: ExplainOptions): { story: Story; note: string | null } {
  const { index, note } = select(found, opts);
  const story = killStory(found.events[index] as OomKillEvent, {
    siblings: groupSiblings(found.events, index),
    names: found.names[index] ?? null,
    detectedAt: found.detectedAt[index] ?? null,
  });
  return { story, note };
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("one OOM kill's story in plain words: which limit, what the memory was, why this process, what to change")
    .argument('[file]', "a kernel log to read; - is standard input (default: the daemon's recorded kills)")
    .option('--pid <pid>', 'the kill of this pid', count('--pid'))
    .option('--seq <seq>', "the kill whose kill line is this /dev/kmsg record (raw records' SEQ)", count('--seq'))
    .option('--last', 'the last kill (the default)')
    .option('--json', 'print the story as one JSON object')
    .option('--state-dir <dir>', `the daemon's state directory, read without FILE (default ${DEFAULT_CONFIG.stateDir})`)
    .option('--boot-time <time>', "with FILE: the boot's wall-clock time (RFC 3339), for kill times of lines with only a kernel timestamp")
    .option('--year <year>', 'with FILE: the year of times printed without one (journal short, syslog)')
    .addHelpText('after', HELP)
    .action(
      action(async (file: string | undefined, opts: ExplainOptions) => {
        const picked = [opts.pid !== undefined, opts.seq !== undefined, opts.last === true].filter(Boolean).length;
        if (picked > 1) throw new UsageError('give one of --pid, --seq, --last');
        if (file === undefined && (opts.bootTime !== undefined || opts.year !== undefined)) {
          throw new UsageError("--boot-time and --year apply to a kernel log (FILE); the daemon's record has each kill's time");
        }
        if (file !== undefined && opts.stateDir !== undefined) throw new UsageError("--state-dir is where the daemon's record is read without FILE; give one or the other");
        const found = file === undefined ? fromRecord(opts.stateDir ?? DEFAULT_CONFIG.stateDir) : await fromLog(file, opts);
        const { story, note } = explainFound(found, opts);
        process.stdout.write(opts.json === true ? `${JSON.stringify(story, null, 2)}\n` : storyText(story));
        if (note !== null) process.stderr.write(`oomwatch explain: ${note}\n`);
      }),
    );
}
