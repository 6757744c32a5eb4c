/**
 * The blocks of one OOM report between its header and its kill (pure): the memcg counters and
 * stats, the system's Mem-Info, the task table. The report state machine (report.ts) hands every
 * kernel message of an open report to `line()`; each block's own module parses its lines.
 * Everything else in a report (call trace, registers, per-zone lines) is skipped on its first
 * character or its first test.
 */
import { candidatesOf, pageSizeOf, rankTasks, type OomCandidate, type RankedTasks } from './badness.js';
import type { KillLine } from './messages.js';
import {
  parseMemcgCounterLine,
  parseStatRecord,
  parseStatsHeader,
  v1SubtreeIsLocal,
  type CounterName,
  type MemcgCounter,
  type MemoryStat,
  type OomMemory,
} from './memcgMeminfo.js';
import {
  MEM_INFO,
  memInfoBytes,
  newMemInfoRaw,
  parseMemInfoSummary,
  parseMemInfoTotal,
  systemTotalPages,
  type MemInfo,
  type MemInfoRaw,
} from './memInfo.js';
import { TASKS_STATE, parseTaskColumns, parseTaskRow, type TaskColumns, type TaskRow } from './taskTable.js';

/** How many candidates a kill event keeps (the rest are counted in `candidates_total`). */
export const CANDIDATES_KEPT = 5;

type Block = 'none' | 'stat' | 'meminfo' | 'tasks';

/** What a report's blocks say, as a kill event carries it. */
export interface ReportStory {
  readonly memory: OomMemory | null;
  readonly memoryStat: MemoryStat | null;
  readonly memInfo: MemInfo | null;
  readonly ranked: RankedTasks | null;
  /** Rows of the task table; null when the report had none. */
  readonly tasksTotal: number | null;
}

export class ReportBlocks {
  private readonly counters: Partial<Record<CounterName, MemcgCounter>> = {};
  private stat: MemoryStat | null = null;
  private memInfo: MemInfoRaw | null = null;
  /** The Mem-Info summary may still continue (no other line came after its first). */
  private memInfoSummaryOpen = false;
  private columns: TaskColumns | null = null;
  readonly tasks: TaskRow[] = [];
  private block: Block = 'none';
  private story: ReportStory | null = null;

  /** One kernel message of the report (escapes decoded). */
  line(msg: string): void {
    switch (this.block) {
      case 'none':
        break;
      case 'stat':
        if (parseStatRecord(msg, this.stat as MemoryStat)) return;
        this.block = 'none';
        break;
      case 'meminfo': {
        const raw = this.memInfo as MemInfoRaw;
        if (parseMemInfoTotal(msg, raw)) return;
        // One record in /dev/kmsg; a text log (dmesg) may print its lines as lines of their own.
        if (this.memInfoSummaryOpen) {
          if (parseMemInfoSummary(msg, raw)) return;
          this.memInfoSummaryOpen = Object.keys(raw.summary).length === 0;
        }
        // Per-node and per-zone lines are skipped; the block ends with the task table.
        if (msg.charCodeAt(0) !== 84 /* T */ && msg.charCodeAt(0) !== 91 /* [ */) return;
        this.block = 'none';
        break;
      }
      case 'tasks':
        if (this.columns === null) {
          const cols = parseTaskColumns(msg);
          if (cols !== undefined) {
            this.columns = cols;
            return;
          }
        } else {
          const row = parseTaskRow(msg, this.columns);
          if (row !== undefined) {
            this.tasks.push(row);
            return;
          }
        }
        this.block = 'none';
        break;
      default:
        this.block satisfies never;
    }
    this.opener(msg);
  }

  /** The first line of a block, or a line that stands alone (the counters). */
  private opener(msg: string): void {
    switch (msg.charCodeAt(0)) {
      case 109: /* m */
      case 107: /* k */
      case 115: /* s */ {
        const c = parseMemcgCounterLine(msg);
        if (c !== undefined && this.counters[c[0]] === undefined) this.counters[c[0]] = c[1];
        return;
      }
      case 77: /* M */ {
        if (msg === MEM_INFO) {
          this.memInfo = newMemInfoRaw();
          this.memInfoSummaryOpen = true;
          this.block = 'meminfo';
          return;
        }
        // Kernels up to 5.x print one stats line per cgroup of the subtree, the OOM cgroup first.
        if (this.stat !== null) return;
        const h = parseStatsHeader(msg);
        if (h === undefined) return;
        this.stat = h.inline ?? {};
        if (h.inline === null) this.block = 'stat';
        return;
      }
      case 84: /* T */
        if (msg === TASKS_STATE) {
          this.block = 'tasks';
          this.columns = null;
        }
        return;
      case 91: /* [ */ {
        // 3.10–4.14 print the column row without the `Tasks state` line.
        const cols = parseTaskColumns(msg);
        if (cols !== undefined) {
          this.columns = cols;
          this.block = 'tasks';
        }
        return;
      }
      default:
    }
  }


  /**
   * What the blocks say, computed at the report's first kill (whose line gives the page size:
   * its rss in kB against its row's rss in pages). Later kills of the report (a group) share it.
   */
  storyFor(kill: KillLine): ReportStory {
    if (this.story !== null) return this.story;
    const victim = this.tasks.find((t) => t.pid === kill.pid);
    const rssKb = kill.anonRssKb === null ? null : kill.anonRssKb + (kill.fileRssKb ?? 0) + (kill.shmemRssKb ?? 0);
    const pageSize = pageSizeOf(victim, rssKb);
    const mem = this.counters.memory;
    // Written out rather than spread: a spread of `mem` cost ≈ 20 µs on a kill's way out (cold).
    const memory: OomMemory | null =
      mem === undefined
        ? null
        : {
            usage: mem.usage,
            limit: mem.limit,
            failcnt: mem.failcnt,
            swap: this.counters.swap ?? null,
            memsw: this.counters.memsw ?? null,
            kmem: this.counters.kmem ?? null,
          };
    // The memcg's domain is its limit (mem_cgroup_get_max); the swap it may add, min(swap
    // allowance, the host's swap), is not in a memcg report: taken as none.
    let totalPages: number | null = null;
    if (memory !== null) totalPages = memory.limit === 'max' ? null : Math.floor(memory.limit / pageSize);
    else if (this.memInfo !== null) totalPages = systemTotalPages(this.memInfo, pageSize);
    this.story = {
      memory,
      memoryStat: this.stat,
      memInfo: this.memInfo === null ? null : memInfoBytes(this.memInfo, pageSize),
      ranked: this.tasks.length === 0 ? null : rankTasks(this.tasks, totalPages, pageSize),
      tasksTotal: this.columns === null ? null : this.tasks.length,
    };
    return this.story;
  }

  /**
   * True when every task of the table is charged to `oomMemcg` itself, so that the table places
   * each pid there. It needs the victim inside `oomMemcg` itself, and then:
   * - v1 (a `memory+swap:`/`kmem:` line or `total_*` stats): every `total_X` equals its `X`, no
   *   memory below the cgroup;
   * - v2 (`swap:`, memory.stat keys): nothing more: a non-root v2 cgroup with processes cannot
   *   enable the memory controller for children (no internal processes), so its whole subtree is
   *   charged to it.
   */
  placesTasksIn(oomMemcg: string, victimMemcg: string | null): boolean {
    if (victimMemcg !== oomMemcg || oomMemcg === '/' || this.columns === null) return false;
    const local = this.stat === null ? undefined : v1SubtreeIsLocal(this.stat);
    if (this.counters.memsw !== undefined || this.counters.kmem !== undefined || local !== undefined) return local === true;
    return this.counters.swap !== undefined || (this.stat !== null && this.stat.anon !== undefined);
  }
}

/** The candidates a kill event carries: the first few in the kernel's order, its victim marked. */
export function storyCandidates(story: ReportStory, pid: number): OomCandidate[] | null {
  return story.ranked === null ? null : candidatesOf(story.ranked, pid, CANDIDATES_KEPT);
}
