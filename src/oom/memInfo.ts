/**
 * The `Mem-Info:` block of a system OOM report (pure), as __show_mem()/show_free_areas()
 * (mm/show_mem.c, lib/show_mem.c and mm/page_alloc.c across kernels) print it under dump_header():
 *
 *   Mem-Info:
 *   active_anon:767 inactive_anon:108098 ...\n active_file:0 ... free:928 free_pcp:50 free_cma:0
 *   Node 0 active_anon:3068kB ...            (per node and per zone: not kept)
 *   25472 total pagecache pages
 *   0 pages in swap cache
 *   Free swap  = 0kB
 *   Total swap = 0kB
 *   130942 pages RAM
 *   13838 pages reserved
 *
 * The summary is one record whose lines are joined by newlines (the `\x0a` escapes of /dev/kmsg,
 * decoded); its values are pages.
 */

export const MEM_INFO = 'Mem-Info:';

/** What the block said, in the units it printed them: pages, except the swap totals in kB. */
export interface MemInfoRaw {
  /** The summary's `key:N` pairs, in pages, keys as printed. */
  readonly summary: Record<string, number>;
  /** `N pages RAM`, `N pages reserved`, ...: keyed ram, reserved, pagecache, swap_cache, ... */
  readonly totalsPages: Record<string, number>;
  /** `Total swap = NkB`, `Free swap  = NkB`: keyed total_swap, free_swap. */
  readonly swapKb: Record<string, number>;
}

/** `mem_info` of a kill event: the summary's keys and the totals, in bytes. */
export type MemInfo = Record<string, number>;

export function newMemInfoRaw(): MemInfoRaw {
  return { summary: {}, totalsPages: {}, swapKb: {} };
}

const PAIR = /^([a-z_]+):(\d{1,20})$/;

/** Add the summary record's pairs to `raw`. False (nothing added) when the message is not one. */
export function parseMemInfoSummary(msg: string, raw: MemInfoRaw): boolean {
  const pairs: [string, number][] = [];
  for (const tok of msg.split(/\s+/)) {
    if (tok === '') continue;
    const m = PAIR.exec(tok);
    if (m === null) return false;
    pairs.push([m[1] as string, Number(m[2])]);
  }
  if (pairs.length === 0) return false;
  for (const [k, v] of pairs) raw.summary[k] = v;
  return true;
}

const TOTALS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(\d{1,20}) total pagecache pages$/, 'pagecache'],
  [/^(\d{1,20}) pages in swap cache$/, 'swap_cache'],
  [/^(\d{1,20}) pages RAM$/, 'ram'],
  [/^(\d{1,20}) pages HighMem\/MovableOnly$/, 'highmem_movable_only'],
  [/^(\d{1,20}) pages reserved$/, 'reserved'],
  [/^(\d{1,20}) pages cma reserved$/, 'cma_reserved'],
  [/^(\d{1,20}) pages hwpoisoned$/, 'hwpoisoned'],
];
const SWAP = /^(Free|Total) swap {1,2}= (\d{1,20})kB$/;

/** One of the totals lines after the per-zone lines; false when the message is none of them. */
export function parseMemInfoTotal(msg: string, raw: MemInfoRaw): boolean {
  const c = msg.charCodeAt(0);
  if (c === 70 /* F */ || c === 84 /* T */) {
    const s = SWAP.exec(msg);
    if (s === null) return false;
    raw.swapKb[s[1] === 'Free' ? 'free_swap' : 'total_swap'] = Number(s[2]);
    return true;
  }
  if (c < 48 || c > 57) return false;
  for (const [re, key] of TOTALS) {
    const m = re.exec(msg);
    if (m !== null) {
      raw.totalsPages[key] = Number(m[1]);
      return true;
    }
  }
  return false;
}

/** The block in bytes: the summary's keys, then the totals (ram, reserved, total_swap, ...). */
export function memInfoBytes(raw: MemInfoRaw, pageSize: number): MemInfo {
  const out: MemInfo = {};
  for (const [k, v] of Object.entries(raw.summary)) out[k] = v * pageSize;
  for (const [k, v] of Object.entries(raw.totalsPages)) out[k] = v * pageSize;
  for (const [k, v] of Object.entries(raw.swapKb)) out[k] = v * 1024;
  return out;
}

/**
 * The pages a system OOM weighs against (out_of_memory → constrained_alloc: totalram_pages() +
 * total_swap_pages): RAM less reserved pages (what the allocator manages) plus the swap. Null when
 * the block did not print them. A cpuset or mempolicy OOM weighs only its nodes' pages, which the
 * report does not print; this is then the whole host's.
 */
export function systemTotalPages(raw: MemInfoRaw, pageSize: number): number | null {
  const ram = raw.totalsPages.ram;
  const reserved = raw.totalsPages.reserved;
  if (ram === undefined || reserved === undefined) return null;
  const swap = raw.swapKb.total_swap ?? 0;
  return ram - reserved + Math.floor((swap * 1024) / pageSize);
}
