/**
 * Property tests: random and mutated kernel log lines, in every form, never make the parser throw
 * and never make it invent a kill. The oracle is independent of the parser: a kill may only come
 * from an input line whose message has the kernel's kill line shape (a loose regex of our own) and
 * that is not known to come from userspace (facility ≥ 1, or a journal identifier other than kernel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { KernelLogFeeder } from '../../src/logfmt/feed.js';
import { OomReportParser } from '../../src/oom/report.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { parseKmsgRecord } from '../../src/kmsg/record.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'oom');

// Real messages to mutate: every record of two captures (OOM lines and the lines around them).
const REAL: string[] = ['k8s-systemd.kmsg', 'handwritten/v2-group-kill.kmsg']
  .flatMap((f) => readFileSync(join(DIR, f), 'utf8').split('\n'))
  .filter((l) => l !== '')
  .map((l) => parseKmsgRecord(l).message);

const KILL_SHAPE =
  /^(?:(?:Memory cgroup out of memory|Out of memory|Out of memory \(oom_kill_allocating_task\)): )?Killed process (\d+) \((.*)\)(?:(?:, UID \d+,)? (?:total-vm|vsz):\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*)?$/s;
// A line that names the killed pid but is not the kernel's whole line: a partial kill (comm may be lost).
const PARTIAL_SHAPE =
  /^(?:(?:Memory cgroup out of memory|Out of memory|Out of memory \(oom_kill_allocating_task\)): )?Killed process (\d+)(?: |$)/s;

/** KILL_SHAPE with a comm the kernel can print (TASK_COMM_LEN: 15 characters and the NUL). */
function wholeKill(msg: string): RegExpExecArray | null {
  const m = KILL_SHAPE.exec(msg);
  return m !== null && (m[2] as string).length <= 15 ? m : null;
}

/** Every place in `msg` where a kill line may start after an unknown prefix. */
function anchors(msg: string): number[] {
  const out: number[] = [];
  const re = /(?:Memory cgroup out of memory: |Out of memory(?: \(oom_kill_allocating_task\))?: )?Killed process \d/g;
  for (let m = re.exec(msg); m !== null; m = re.exec(msg)) {
    out.push(m.index);
    re.lastIndex = m.index + 1;
  }
  return out;
}

interface Line {
  readonly message: string;
  readonly facility: number;
  readonly form: number;
}

const noNewline = (s: string): string => s.replace(/[\n\r]/g, ' ');

/** A message: a real one, a real one mutated, a made-up kill line, or noise. */
const message: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...REAL),
  fc
    .tuple(fc.constantFrom(...REAL), fc.nat(), fc.nat(), fc.string({ maxLength: 8 }))
    .map(([m, a, b, ins]) => {
      const i = a % (m.length + 1);
      const j = Math.min(m.length, i + (b % 12));
      return m.slice(0, i) + ins + m.slice(j);
    }),
  fc
    .tuple(
      fc.constantFrom('', 'Memory cgroup out of memory: ', 'Out of memory: ', 'myapp: ', 'Out of memory (oom_kill_allocating_task): '),
      fc.integer({ min: 0, max: 1 << 22 }),
      fc.string({ maxLength: 20 }),
      fc.constantFrom('', ' total-vm:1kB, anon-rss:2kB, file-rss:3kB', ' total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0', ', UID 5, total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB', ' junk'),
    )
    .map(([p, pid, comm, tail]) => `${p}Killed process ${pid} (${comm})${tail}`),
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
).map(noNewline);

const line: fc.Arbitrary<Line> = fc.record({
  message,
  facility: fc.constantFrom(0, 0, 0, 1, 3),
  form: fc.integer({ min: 0, max: 6 }),
});

const escapeKmsg = (s: string): string =>
  Buffer.from(s, 'utf8')
    .toString('latin1')
    .replace(/[\x00-\x1f\x7f-\xff\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Render a line in one of the text forms; returns the text and whether the form tells the facility. */
function render(l: Line, seq: number): { text: string; foreign: boolean } {
  const ts = `${String(100 + seq).padStart(5)}.${String(seq % 1e6).padStart(6, '0')}`;
  const fac = l.facility;
  switch (l.form) {
    case 0:
      return { text: `${fac * 8 + 4},${seq},${seq * 10},-;${escapeKmsg(l.message)}`, foreign: fac !== 0 };
    case 1:
      return { text: `[${ts}] ${l.message}`, foreign: false };
    case 2:
      return { text: `${fac === 0 ? 'kern' : 'user'}  :warn  : [${ts}] ${l.message}`, foreign: fac !== 0 };
    case 3:
      return { text: `Nov 28 05:27:31 host ${fac === 0 ? 'kernel' : 'app[9]'}: ${l.message}`, foreign: fac !== 0 };
    case 4:
      return { text: `[${ts}] host ${fac === 0 ? 'kernel' : 'app[9]'}: ${l.message}`, foreign: fac !== 0 };
    case 5:
      return { text: `[Sat Nov 28 05:27:31 2026] ${l.message}`, foreign: false };
    default:
      return { text: l.message, foreign: false };
  }
}

function run(text: string, chunk: number): OomKillEvent[] {
  const events: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => events.push(e) });
  const feeder = new KernelLogFeeder(parser);
  feeder.begin('prop');
  for (let i = 0; i < text.length; i += chunk) feeder.write(text.slice(i, i + chunk));
  feeder.end();
  return events;
}

test('random and mutated lines in every form never throw and never invent a kill', () => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 40 }), fc.integer({ min: 1, max: 300 }), (lines, chunk) => {
      const rendered = lines.map((l, i) => ({ l, ...render(l, i + 1) }));
      const text = rendered.map((r) => r.text).join('\n');
      const events = run(text, chunk);
      // The oracle: kernel-shaped kill messages on lines not known to be from userspace.
      const allowed = new Map<string, number>();
      const allow = (msg: string): void => {
        const m = wholeKill(msg);
        if (m !== null) {
          const key = `${m[1]}\u0000${m[2]}`;
          allowed.set(key, (allowed.get(key) ?? 0) + 1);
        }
        const p = m === null ? PARTIAL_SHAPE.exec(msg) : null;
        if (p !== null) allowed.set(`${p[1]}\u0000partial`, (allowed.get(`${p[1]}\u0000partial`) ?? 0) + 1);
      };
      for (const [i, r] of rendered.entries()) {
        if (r.foreign) continue;
        allow(r.l.message);
        // A run of 3 or more spaces inside a kill line is read as a paste's wrap padding, taken
        // out or made one space when that gives the kernel's whole line (healWrappedLine).
        const pad = wholeKill(r.l.message) !== null ? null : /\S( {3,})\S/.exec(r.l.message);
        if (pad !== null) {
          const at = pad.index + 1;
          const rest = r.l.message.slice(at + (pad[1] as string).length);
          const healed = [r.l.message.slice(0, at) + rest, `${r.l.message.slice(0, at)} ${rest}`].find((h) => wholeKill(h) !== null);
          if (healed !== undefined) allow(healed);
        }
        // A bare line is searched for the kernel's text after any prefix.
        if (r.l.form === 6) for (const at of anchors(r.l.message)) allow(r.l.message.slice(at));
        // A broken kill line may be completed by the bare line after it (a terminal's cut).
        const next = rendered[i + 1];
        if (next !== undefined && next.l.form === 6) {
          const rest = next.l.message.trimStart();
          for (const whole of [r.l.message + next.l.message, r.l.message + rest, `${r.l.message} ${rest}`]) {
            allow(whole);
            for (const at of anchors(whole)) allow(whole.slice(at));
          }
        }
      }
      for (const e of events) {
        // A whole kill line gives its pid and comm; a partial one its pid (a partial kill takes a
        // partial line's allowance first: the same pid may also have a whole line in the input).
        const partialKey = `${e.pid}\u0000partial`;
        const key = e.partial && (allowed.get(partialKey) ?? 0) > 0 ? partialKey : `${e.pid}\u0000${e.process}`;
        const left = allowed.get(key) ?? 0;
        assert.ok(left > 0, `invented kill ${JSON.stringify(e)} from ${JSON.stringify(text)}`);
        allowed.set(key, left - 1);
      }
    }),
    { numRuns: 400 },
  );
});

test('arbitrary text (any characters, any line breaks) never throws', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.integer({ min: 1, max: 50 }), (text, chunk) => {
      run(text, chunk);
    }),
    { numRuns: 400 },
  );
});

test('foreign raw records never produce kills, whatever they say', () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 30 }), fc.integer({ min: 1, max: 23 }), (messages, facility) => {
      const text = messages.map((m, i) => `${facility * 8 + 3},${i},${i},-;${escapeKmsg(m)}`).join('\n');
      assert.deepEqual(run(text, 4096), []);
    }),
    { numRuns: 300 },
  );
});
