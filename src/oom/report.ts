/**
 * The OOM report state machine (pure): kernel messages in, kill events out, one event per process
 * the kernel killed, in input order. It follows the report as mm/oom_kill.c prints it:
 *
 *   <comm> invoked oom-killer: ...                  header       (rate-limited: 10 per 5 s)
 *   Task in X killed as a result of limit of Y      < 4.19       (with the header)
 *   oom-kill:constraint=...,task=..,pid=N,uid=N     ≥ 4.19       (with the header)
 *   <prefix>: Kill process N (c) score S or sacrifice child      ≤ 5.0, never rate-limited
 *   [<prefix>: ]Killed process N (c) total-vm:...   the kill     never rate-limited
 *   Tasks in X are going to be killed due to memory.oom.group set, then one kill line per member
 *
 * A kill line is attributed to the report before it only when that report has not had its kill yet
 * and names the same pid (or names none, or selected the victim with a `Kill process` line); else it
 * is a header-less kill (a rate-limited storm, lost records) and says only what its own line says.
 * A header that never gets its kill is closed by the next report line, by a SEQ gap, or after
 * `staleAfterUs` of kernel time, so it never swallows the next report.
 *
 * Between a header and its kill the report's blocks (memcg counters and stats, Mem-Info, the task
 * table: reportBlocks.ts) are read from every message and attached to the report's kill events.
 * Outside a report a message that cannot be an OOM line costs one test, as before any report.
 *
 * A header-less kill whose pid was listed in the task table of a recent full report is placed in
 * that report's cgroup when the report shows that its whole table is charged there
 * (ReportBlocks.placesTasksIn): in a storm, each full report lists the tasks its header-less kills
 * will name. Tables are kept `tableWindowUs` of kernel time, at most `MAX_RECENT_TABLES` of them.
 *
 * What a pasted log may lack or garble is still read, never made up: a kill line that is not whole
 * but names the killed pid is a kill (`partial`, unread fields null); a `Kill process` selection
 * whose kill line never comes is a kill of the selected task when its report closes
 * (`possibly_child`: the kernel may have killed a child instead); a summary line printed after its
 * kill line (same pid, no summary yet) still gives that kill its cgroups.
 *
 * Records from userspace (facility ≥ 1, Documentation/ABI/testing/dev-kmsg) are never parsed:
 * they are counted and otherwise ignored, whatever they say.
 */
import { KERNEL_FACILITY, type KmsgRecord } from '../kmsg/record.js';
import { rfc3339Us } from '../kmsg/wallClock.js';
import { buildOomKillEvent, type OomKillEvent } from './event.js';
import { resolveOwner } from './owner.js';
import { ReportBlocks, storyCandidates } from './reportBlocks.js';
import {
  isAlreadyExitingLine,
  isNoKillableLine,
  isSummaryLine,
  mayBeOomLine,
  oomLineStart,
  parseGroupLine,
  parseHeaderLine,
  parseKillLineHealed,
  parsePartialKillLine,
  parseSelectLine,
  parseSummaryLine,
  parseSuppressedLine,
  parseTaskInLine,
  summaryPidUid,
  type KillLine,
  type OomScope,
  type SummaryLine,
} from './messages.js';

export interface OomParserStats {
  /** Kernel messages seen (facility 0 or unknown). */
  messages: number;
  /** Records from userspace (facility ≥ 1): never parsed for OOMs. */
  foreign: number;
  /** Records missing by SEQ gaps. */
  lost: number;
  /** OOM reports seen (a header, a summary, a legacy `Task in` or `Kill process` line opens one). */
  reports: number;
  /** Reports that ended without a kill (no killable process, victim already exiting, lost records). */
  reportsWithoutKill: number;
  /** Kill events emitted. */
  kills: number;
  /** Kills whose report header was not there (rate-limited storm, lost records, partial logs). */
  headerlessKills: number;
  /** Kills known from a line that was not the kernel's whole kill line (event `partial`). */
  partialKills: number;
  /** Of those, kills known from a `Kill process` selection line alone (event `possibly_child`). */
  possiblyChildKills: number;
  /** Repeated kill lines of a group kill's first victim, reported once. */
  duplicateKills: number;
  /** Sum of `oom_kill_process: N callbacks suppressed`: reports the kernel printed without header. */
  suppressed: number;
}

export interface OomParserOptions {
  /** Receives every kill, in input order. */
  readonly onKill: (event: OomKillEvent) => void;
  /**
   * An open report older than this (kernel time) is closed before the next message: a report's
   * lines follow each other within milliseconds. Default 10 s.
   */
  readonly staleAfterUs?: number;
  /**
   * Kill lines after `Tasks in ... memory.oom.group set` are the group's members only while they
   * follow each other within this much kernel time (the kernel prints them in one loop under
   * oom_lock). Default 1 s. Without timestamps, only another report line ends the group.
   */
  readonly groupWindowUs?: number;
  /**
   * The kernel printed a kill line again for a process already reported: a group's first victim,
   * killed once more in the member loop (mm/oom_kill.c, oom_kill_process → oom_kill_memcg_member).
   * Not a kill, but the kernel counted it: `oom_kill` in the victim's memory.events(.local) rose
   * once more (__oom_kill_process → memcg_memory_event_mm). Receives the event already reported
   * for that pid. Who reconciles kills with those counters needs this; the rest can ignore it.
   */
  readonly onRepeatedKill?: (reported: OomKillEvent) => void;
  /**
   * How long (kernel time) a full report's task table places the pids of header-less kills.
   * Default 10 s: the kernel lets 10 report headers through per 5 s (oom_kill_process's
   * ratelimit), so a storm that goes on prints a full report at least every 5 s, and its
   * header-less kills name tasks of the latest tables. Kept short because a pid can be reused once
   * its task is gone (pids are handed out cyclically up to pid_max: seconds are safe).
   */
  readonly tableWindowUs?: number;
}

export const DEFAULT_STALE_AFTER_US = 10_000_000;
export const DEFAULT_GROUP_WINDOW_US = 1_000_000;
export const DEFAULT_TABLE_WINDOW_US = 10_000_000;
/** Task tables kept for header-less kills: two storms' latest reports, with room to spare. */
export const MAX_RECENT_TABLES = 16;

/** A full report's task table, as it places header-less kills. */
interface RecentTable {
  readonly pids: ReadonlySet<number>;
  readonly cgroup: string;
  readonly ts: number;
}

/** The report being read: what its lines established so far. */
interface Report {
  /** False for a context opened by a header-less kill: it is not counted as a report. */
  counted: boolean;
  trigger: string | null;
  scope: OomScope | null;
  constraint: string | null;
  oomMemcg: string | null;
  summary: string | null;
  /** The summary read without the kill line's comm (takeSummary); undefined when it is not the kernel's. */
  summaryLine: SummaryLine | undefined;
  summaryPid: number | null;
  summaryUid: number | null;
  legacyTaskMemcg: string | null;
  selectedPid: number | null;
  /** The `Kill process` line's comm, SEQ, kernel and wall time: its kill when no kill line follows. */
  selected: { comm: string; seq: number; ts: number; wallUs: number } | null;
  kills: number;
  lastKillPid: number;
  groupCgroup: string | null;
  /** The group's members reported so far, by pid (the event, when the parser still has it). */
  groupPids: Map<number, OomKillEvent | null> | null;
  lastTs: number;
  /** The blocks between header and kill; null for a report opened without a header. */
  blocks: ReportBlocks | null;
}

function newReport(counted: boolean, ts: number): Report {
  return {
    counted,
    trigger: null,
    scope: null,
    constraint: null,
    oomMemcg: null,
    summary: null,
    summaryLine: undefined,
    summaryPid: null,
    summaryUid: null,
    legacyTaskMemcg: null,
    selectedPid: null,
    selected: null,
    kills: 0,
    lastKillPid: -1,
    groupCgroup: null,
    groupPids: null,
    lastTs: ts,
    blocks: null,
  };
}

/**
 * The report's summary line (`oom-kill:constraint=…`; `pu` its pid and uid): the constraint, the OOM
 * cgroup and the scope, parsed without the comm for now (the kill line's comm settles the paths,
 * see event()).
 */
function takeSummary(r: Report, msg: string, pu: readonly [number, number]): void {
  r.summary = msg;
  r.summaryPid = pu[0];
  r.summaryUid = pu[1];
  const s = parseSummaryLine(msg);
  r.summaryLine = s;
  if (s !== undefined) {
    r.constraint = s.constraint;
    r.oomMemcg = s.oomMemcg;
    r.scope = s.globalOom ? 'system' : 'cgroup';
  }
}

/**
 * Feed it record by record (live) or line by line (files). A kill is held back until the next
 * message, because the kernel prints `Tasks in ... memory.oom.group set` right after a group's
 * first kill and that line decides `group_kill`; call `idle()` when the input has no more messages
 * for now (the live reader drained the device) and `end()` at the end of input.
 */
export class OomReportParser {
  readonly stats: OomParserStats;
  private readonly options: OomParserOptions;
  private static newStats(): OomParserStats {
    return {
      messages: 0,
      foreign: 0,
      lost: 0,
      reports: 0,
      reportsWithoutKill: 0,
      kills: 0,
      headerlessKills: 0,
      duplicateKills: 0,
      suppressed: 0,
      partialKills: 0,
      possiblyChildKills: 0,
    };
  }
  private readonly onKill: (event: OomKillEvent) => void;
  private readonly onRepeatedKill: ((reported: OomKillEvent) => void) | undefined;
  private readonly staleAfterUs: number;
  private readonly groupWindowUs: number;
  private readonly tableWindowUs: number;
  private report: Report | null = null;
  /** The open report's blocks while it has no kill yet: every message goes to them. */
  private blocks: ReportBlocks | null = null;
  /** Task tables of recent full reports, oldest first. */
  private tables: RecentTable[] = [];
  private held: OomKillEvent | null = null;
  /** How the held kill was built, to build it again when its summary line comes after it. */
  private heldFrom: { k: KillLine; seq: number; ts: number; wallUs: number } | null = null;
  /** A kill's report table that remember() left to settleTable(), with what it is judged on. */
  private pendingTable: { blocks: ReportBlocks; oomMemcg: string; victim: string | null; ts: number } | null = null;
  /** The last kill emitted: a group line may come after idle() released its first victim. */
  private lastReleased: OomKillEvent | null = null;
  private lastSeq = -1;

  /** `stats`: shared with the parser this one is a sibling of (see sibling()). */
  constructor(options: OomParserOptions, stats?: OomParserStats) {
    this.options = options;
    this.stats = stats ?? OomReportParser.newStats();
    this.onKill = options.onKill;
    this.onRepeatedKill = options.onRepeatedKill;
    this.staleAfterUs = options.staleAfterUs ?? DEFAULT_STALE_AFTER_US;
    this.groupWindowUs = options.groupWindowUs ?? DEFAULT_GROUP_WINDOW_US;
    this.tableWindowUs = options.tableWindowUs ?? DEFAULT_TABLE_WINDOW_US;
  }

  /**
   * True while a report is open and reading its blocks: a caller that filters messages itself
   * (mayBeOomLine) must then pass every kernel message with push(), not pushOther().
   */
  get readingReport(): boolean {
    return this.blocks !== null;
  }

  /**
   * A parser for another source stream of the same input (another host's lines, another wrapped
   * log's): its own report state, the same options and the same stats.
   */
  sibling(): OomReportParser {
    return new OomReportParser(this.options, this.stats);
  }

  /** Feed one parsed /dev/kmsg record. */
  pushRecord(r: Pick<KmsgRecord, 'message' | 'seq' | 'tsUsec' | 'facility'>): void {
    this.push(r.message, r.seq, r.tsUsec, r.facility);
  }

  /**
   * Feed one message (escapes decoded). `seq`, `tsUs` (kernel time, µs) and `facility` are passed
   * when the input has them; -1 (or omitted) means unknown. A known facility other than the
   * kernel's makes the message foreign: counted, never parsed. `wallUs` is the line's own
   * wall-clock time (epoch µs) when its form prints one: a kill line's becomes its `kill_time`.
   */
  push(message: string, seq = -1, tsUs = -1, facility = -1, wallUs = -1): void {
    if (!this.admit(seq, tsUs, facility)) return;
    if (!mayBeOomLine(message)) {
      this.blocks?.line(message);
      this.release();
      return;
    }
    this.handle(message, seq, tsUs, wallUs);
  }

  /**
   * A kernel record known not to be an OOM line (the caller ran `mayBeOomLine` on it): tracks SEQ
   * and time like `push` without needing the message as a string.
   */
  pushOther(seq = -1, tsUs = -1, facility = -1): void {
    if (!this.admit(seq, tsUs, facility)) return;
    this.release();
  }

  /**
   * `count` consecutive kernel records known not to be OOM lines, SEQ `firstSeq` to
   * `firstSeq + count - 1`, kernel times from `minTs` to `maxTs` (≥ 0): the same as pushOther() of
   * each in turn. Only the first can be a gap or a SEQ going back; the times end an open report's
   * stale reading as soon as one of them is out of its window, and nothing else happens between
   * the records.
   */
  pushOthers(firstSeq: number, count: number, minTs: number, maxTs: number): void {
    if (count <= 0) return;
    this.admit(firstSeq, minTs, KERNEL_FACILITY);
    this.lastSeq = firstSeq + count - 1;
    this.stats.messages += count - 1;
    const r = this.report;
    if (r !== null && r.lastTs >= 0 && maxTs - r.lastTs > this.staleAfterUs) {
      this.release();
      this.close();
    }
    this.release();
  }

  /** The input has no more messages for now: emit a kill held back for a possible group line. */
  idle(): void {
    this.release();
  }

  /** End of input: emit what is held, close the open report. */
  end(): void {
    this.release();
    this.close();
  }

  /**
   * The input starts over (another file, another boot in a journal): end what is open and forget
   * the last SEQ, so that the next record is neither a gap nor a continuation.
   */
  boundary(): void {
    this.end();
    this.lastSeq = -1;
    this.tables = [];
  }

  /** SEQ bookkeeping and the foreign-facility gate. Returns false when the message is not the kernel's. */
  private admit(seq: number, tsUs: number, facility: number): boolean {
    if (seq >= 0) {
      if (this.lastSeq >= 0) {
        if (seq > this.lastSeq + 1) {
          this.stats.lost += seq - this.lastSeq - 1;
          this.gap();
        } else if (seq <= this.lastSeq) {
          // SEQ went back: another boot's log follows (concatenated files). Nothing carries over.
          this.end();
          this.tables = [];
        }
      }
      this.lastSeq = seq;
    }
    if (facility >= 0 && facility !== KERNEL_FACILITY) {
      this.stats.foreign++;
      return false;
    }
    this.stats.messages++;
    const r = this.report;
    if (tsUs >= 0 && r !== null && r.lastTs >= 0 && (tsUs < r.lastTs || tsUs - r.lastTs > this.staleAfterUs)) {
      this.release();
      this.close();
    }
    return true;
  }

  /** Records were lost: nothing known to belong together still does, except by an explicit pid. */
  private gap(): void {
    this.release();
    const r = this.report;
    if (r === null) return;
    r.groupPids = null;
    r.groupCgroup = null;
    if (r.summaryPid === null) this.close();
  }

  private open(counted: boolean, ts: number): Report {
    this.close();
    const r = newReport(counted, ts);
    if (counted) this.stats.reports++;
    this.report = r;
    return r;
  }

  private close(): void {
    const r = this.report;
    if (r !== null && r.kills === 0 && r.selected !== null && r.selectedPid !== null) {
      // A `Kill process` line whose `Killed process` line is not there (a grep kept only the
      // first, records were lost): the kernel killed the selected task or one of its children.
      const sel = r.selected;
      const k: KillLine = {
        pid: r.selectedPid, comm: sel.comm, scope: r.scope, totalVmKb: null, anonRssKb: null, fileRssKb: null,
        shmemRssKb: null, uid: null, pgtablesKb: null, oomScoreAdj: null, partial: true,
      };
      this.release();
      r.kills++;
      this.held = this.event(k, r, sel.seq, sel.ts, sel.wallUs, false, true);
      this.release();
    }
    if (r !== null && r.counted && r.kills === 0) this.stats.reportsWithoutKill++;
    this.report = null;
    this.blocks = null;
  }

  private release(): void {
    const e = this.held;
    if (e === null) return;
    this.held = null;
    this.heldFrom = null;
    this.lastReleased = e;
    this.stats.kills++;
    if (e.partial) this.stats.partialKills++;
    if (e.possibly_child) this.stats.possiblyChildKills++;
    try {
      this.onKill(e);
    } finally {
      this.settleTable();
    }
  }

  private handle(msg: string, seq: number, ts: number, wallUs: number): void {
    // Only the forms its first character allows are tried (oomLineStart), in the same order.
    const start = oomLineStart(msg);
    if (start === 'prefixed') {
      const kill = parseKillLineHealed(msg) ?? parsePartialKillLine(msg);
      if (kill !== undefined) {
        this.kill(kill, seq, ts, wallUs);
        return;
      }
    } else if (start === 'tasks') {
      const group = parseGroupLine(msg);
      if (group !== undefined) {
        this.group(group, ts);
        return;
      }
    } else if (start === 'oom' && isSummaryLine(msg) && this.lateSummary(msg)) {
      return;
    }
    // Every other report line ends a held kill's chance to be a group's first victim.
    this.release();
    const trigger = parseHeaderLine(msg);
    if (trigger !== undefined) {
      const r = this.open(true, ts);
      r.trigger = trigger;
      r.blocks = new ReportBlocks();
      this.blocks = r.blocks;
      return;
    }
    if (start === 'oom') {
      if (isSummaryLine(msg)) {
        const pu = summaryPidUid(msg);
        if (pu === undefined) return; // not the kernel's summary shape: an unknown line
        let r = this.report;
        if (r === null || r.summary !== null || r.kills > 0) r = this.open(true, ts);
        takeSummary(r, msg, pu);
        r.lastTs = ts;
        return;
      }
      const suppressed = parseSuppressedLine(msg);
      if (suppressed !== undefined) {
        this.stats.suppressed += suppressed;
        return;
      }
    } else if (start === 'tasks') {
      const taskIn = parseTaskInLine(msg);
      if (taskIn !== undefined) {
        let r = this.report;
        if (r === null || r.legacyTaskMemcg !== null || r.kills > 0) r = this.open(true, ts);
        r.legacyTaskMemcg = taskIn.taskMemcg;
        r.oomMemcg = taskIn.oomMemcg;
        r.scope = 'cgroup';
        r.lastTs = ts;
        return;
      }
    } else if (start === 'prefixed') {
      const select = parseSelectLine(msg);
      if (select !== undefined) {
        let r = this.report;
        // Not rate-limited (≤ 5.0): in a storm it opens the report its header would have opened.
        if (r === null || r.kills > 0 || r.selectedPid !== null) r = this.open(true, ts);
        r.selectedPid = select.pid;
        r.selected = { comm: select.comm, seq, ts, wallUs };
        r.scope = select.scope;
        r.lastTs = ts;
        return;
      }
      if (isNoKillableLine(msg) || isAlreadyExitingLine(msg)) {
        this.close();
        return;
      }
    }
    // Anything else (oom_reaper lines, memory usage, the task table) says nothing about kills,
    // but may be part of the report's blocks (a task whose comm holds the keyword).
    this.blocks?.line(msg);
  }

  private kill(k: KillLine, seq: number, ts: number, wallUs: number): void {
    let r = this.report;
    if (r !== null && r.groupPids !== null) {
      const inWindow = ts < 0 || r.lastTs < 0 || ts - r.lastTs <= this.groupWindowUs;
      if (inWindow) {
        r.lastTs = ts;
        if (r.groupPids.has(k.pid)) {
          this.stats.duplicateKills++;
          const reported = r.groupPids.get(k.pid) ?? null;
          if (reported !== null) this.onRepeatedKill?.(reported);
          return;
        }
        this.release();
        r.kills++;
        r.lastKillPid = k.pid;
        this.held = this.event(k, r, seq, ts, wallUs, true);
        r.groupPids.set(k.pid, this.held);
        return;
      }
    }
    this.release();
    const attach =
      r !== null &&
      r.kills === 0 &&
      r.groupPids === null &&
      (r.selectedPid !== null || r.summaryPid === null || r.summaryPid === k.pid);
    if (!attach) {
      r = this.open(false, ts);
      this.stats.headerlessKills++;
    }
    const rep = r as Report;
    rep.kills++;
    rep.lastKillPid = k.pid;
    rep.lastTs = ts;
    this.blocks = null;
    this.held = this.event(k, rep, seq, ts, wallUs, false);
    this.heldFrom = { k, seq, ts, wallUs };
    if (!attach) return;
    this.remember(rep, ts);
  }

  /**
   * Keep a full report's task table for the header-less kills that may follow (see the top). What
   * the table places is decided once the kill is emitted (settleTable), off the kill's way out; on
   * what the report says now, as later lines (a late summary) must not change it.
   */
  private remember(r: Report, ts: number): void {
    const b = r.blocks;
    if (b === null || b.tasks.length === 0 || r.oomMemcg === null || r.scope === 'system') return;
    // The event just built names the victim's cgroup only when the kernel named it for that pid.
    this.pendingTable = { blocks: b, oomMemcg: r.oomMemcg, victim: this.held?.victim_cgroup ?? null, ts };
  }

  /**
   * The table remember() left for after the kill's release. Nothing reads the tables in between:
   * every path that builds a kill event (placed()) or remembers another table releases first.
   */
  private settleTable(): void {
    const p = this.pendingTable;
    if (p === null) return;
    this.pendingTable = null;
    if (!p.blocks.placesTasksIn(p.oomMemcg, p.victim)) return;
    const { blocks: b, oomMemcg, ts } = p;
    const tables = this.tables;
    if (ts >= 0) {
      let stale = 0;
      while (stale < tables.length && ts - (tables[stale] as RecentTable).ts > this.tableWindowUs) stale++;
      if (stale > 0) tables.splice(0, stale);
    }
    if (tables.length >= MAX_RECENT_TABLES) tables.shift();
    tables.push({ pids: new Set(b.tasks.map((t) => t.pid)), cgroup: oomMemcg, ts });
  }

  /** The cgroup a recent table places a header-less kill's pid in, newest table first. */
  private placed(pid: number, ts: number): string | null {
    for (let i = this.tables.length - 1; i >= 0; i--) {
      const t = this.tables[i] as RecentTable;
      if (ts >= 0 && t.ts >= 0 && (ts < t.ts || ts - t.ts > this.tableWindowUs)) continue;
      if (t.pids.has(pid)) return t.cgroup;
    }
    return null;
  }

  private group(cgroup: string, ts: number): void {
    let r = this.report;
    if (r === null || r.groupPids !== null) r = this.open(true, ts);
    r.groupCgroup = cgroup;
    r.groupPids = new Map();
    r.lastTs = ts;
    const first = this.held;
    if (first !== null && r.kills > 0 && first.pid === r.lastKillPid) {
      // The victim chosen before the group line is the group's first member; the kernel kills it
      // again in the member loop (the repeated line is counted as a duplicate, not a second kill).
      r.groupPids.set(first.pid, first);
      first.group_kill = true;
      if (first.victim_cgroup === null) this.fillOwner(first, cgroup);
    } else if (first === null && r.kills > 0 && r.lastKillPid >= 0) {
      // Its kill was already released (idle() came between the kill line and this one: a live
      // reader read the device in between). It is still the group's first member: its repeated
      // line is a duplicate. Its event went out with group_kill false; that cannot be undone.
      const released = this.lastReleased;
      r.groupPids.set(r.lastKillPid, released !== null && released.pid === r.lastKillPid ? released : null);
    }
    this.release();
  }

  /** A group member's owner is that of the group's cgroup, which holds every member. */
  private fillOwner(e: OomKillEvent, cgroup: string): void {
    const o = resolveOwner(cgroup);
    e.unit = o.unit;
    e.runtime = o.runtime;
    e.container_id = o.container_id;
    e.pod_uid = o.pod_uid;
    e.pod_qos = o.pod_qos;
  }

  /**
   * A summary line (`oom-kill:constraint=...`) printed after its kill line (some kernels and log
   * orderings): it belongs to the kill just read when it names that kill's pid and the kill's report
   * has no summary yet. The kill, still held, is built again with it; a kill already emitted (idle()
   * came between) cannot change, and the summary then only keeps from opening a report of its own.
   * Returns false when the line is no such summary (it is then read as the next report's).
   */
  private lateSummary(msg: string): boolean {
    const r = this.report;
    if (r === null || r.kills === 0 || r.summary !== null || r.groupPids !== null) return false;
    const pu = summaryPidUid(msg);
    if (pu === undefined || pu[0] !== r.lastKillPid) return false;
    takeSummary(r, msg, pu);
    if (!r.counted) {
      // The kill opened this context without a report line; its summary is one: a report, as
      // the same lines in the kernel's order would be, and the kill is no header-less one.
      r.counted = true;
      this.stats.reports++;
      this.stats.headerlessKills--;
    }
    const h = this.heldFrom;
    if (h !== null && this.held !== null && h.k.pid === pu[0]) {
      this.held = this.event(h.k, r, h.seq, h.ts, h.wallUs, false);
    }
    return true;
  }

  private event(
    k: KillLine,
    r: Report,
    seq: number,
    ts: number,
    wallUs: number,
    groupKill: boolean,
    possiblyChild = false,
  ): OomKillEvent {
    let victim: string | null = r.counted ? null : this.placed(k.pid, ts);
    let uid: number | null = null;
    let oomCgroup = r.oomMemcg;
    if (r.summaryPid === k.pid && r.summary !== null) {
      // The kill line's comm pins where the summary's `,task=` starts: parse it again with it,
      // unless the reading without it already ends in that comm (it then splits the line there).
      const read = r.summaryLine;
      const s = read !== undefined && (k.comm === null || read.task === k.comm) ? read : parseSummaryLine(r.summary, k.comm ?? undefined);
      if (s !== undefined) {
        victim = s.taskMemcg;
        oomCgroup = s.oomMemcg;
      }
      uid = r.summaryUid;
    } else if (r.legacyTaskMemcg !== null && r.selectedPid === k.pid) {
      // `Task in X` names the selected task; a sacrificed child may live elsewhere.
      victim = r.legacyTaskMemcg;
    }
    const story = r.blocks === null ? null : r.blocks.storyFor(k);
    const e = buildOomKillEvent(k, {
      story:
        story === null
          ? null
          : {
              memory: story.memory,
              memoryStat: story.memoryStat,
              memInfo: story.memInfo,
              candidates: storyCandidates(story, k.pid),
              candidatesTotal: story.tasksTotal,
            },
      scope: r.scope,
      constraint: r.constraint,
      oomCgroup,
      victimCgroup: victim,
      ownerCgroup: victim ?? (groupKill ? r.groupCgroup : null),
      uid,
      groupKill,
      possiblyChild,
      triggerProcess: r.trigger,
      seq: seq >= 0 ? seq : null,
      kernelTimeUs: ts >= 0 ? ts : null,
    });
    if (wallUs >= 0) e.kill_time = rfc3339Us(wallUs);
    return e;
  }
}

/** Parse a whole list of messages at once (tests, small inputs). */
export function parseOomMessages(
  messages: Iterable<string | Pick<KmsgRecord, 'message' | 'seq' | 'tsUsec' | 'facility'>>,
): { events: OomKillEvent[]; stats: OomParserStats } {
  const events: OomKillEvent[] = [];
  const p = new OomReportParser({ onKill: (e) => events.push(e) });
  for (const m of messages) {
    if (typeof m === 'string') p.push(m);
    else p.pushRecord(m);
  }
  p.end();
  return { events, stats: p.stats };
}
