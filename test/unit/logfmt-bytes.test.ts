/**
 * KernelLogFeeder.writeBytes reads raw /dev/kmsg records in the bytes and decodes only what the OOM
 * parser needs, telling it about runs of ordinary records at once. The reference is write() of the
 * same bytes decoded by a StringDecoder, piece by piece. Both must give the same kills in the same
 * order, the same parser counts (messages, lost, foreign, reports, ...) and the same feed counts
 * (lines per form, malformed lines and their examples, lines without a facility), on every fixture
 * and on random logs, cut into pieces anywhere (inside a record, inside a UTF-8 character).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { KernelLogFeeder, MAX_LINE_CHARS } from '../../src/logfmt/feed.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { newKmsgPrefix, parseKmsgRecord, scanKmsgPrefix, scanKmsgPrefixBytes } from '../../src/kmsg/record.js';
import { DEFAULT_STALE_AFTER_US, OomReportParser } from '../../src/oom/report.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'oom');
/** Any fixed time: year-less lines take their year from it, the same for both paths. */
const REFERENCE_MS = Date.UTC(2026, 10, 30, 12);

interface Outcome {
  readonly kills: OomKillEvent[];
  readonly repeated: OomKillEvent[];
  readonly parser: object;
  readonly feed: object;
  /** Messages the parser got as strings (push), and calls to write() (the text path). */
  readonly pushed: string[];
  readonly textWrites: number;
}

/** Feed `inputs` (one list of pieces per file) by `how`; the outcome is everything observable. */
function feed(inputs: readonly (readonly Buffer[])[], how: 'text' | 'bytes'): Outcome {
  const kills: OomKillEvent[] = [];
  const repeated: OomKillEvent[] = [];
  const parser = new OomReportParser({ onKill: (e) => kills.push(e), onRepeatedKill: (e) => repeated.push(e) });
  const pushed: string[] = [];
  const push = parser.push.bind(parser);
  parser.push = (message, ...rest) => {
    pushed.push(message);
    push(message, ...rest);
  };
  const feeder = new KernelLogFeeder(parser);
  let textWrites = 0;
  const write = feeder.write.bind(feeder);
  feeder.write = (chunk) => {
    textWrites++;
    write(chunk);
  };
  inputs.forEach((pieces, i) => {
    feeder.begin(`file${i}`, REFERENCE_MS);
    if (how === 'bytes') {
      for (const p of pieces) feeder.writeBytes(p);
    } else {
      const decoder = new StringDecoder('utf8');
      for (const p of pieces) feeder.write(decoder.write(p));
      const rest = decoder.end();
      if (rest !== '') feeder.write(rest);
    }
  });
  feeder.end();
  // Copies: the stats objects are live.
  return { kills, repeated, parser: { ...parser.stats }, feed: structuredClone(feeder.stats), pushed, textWrites };
}

function assertSame(inputs: readonly (readonly Buffer[])[], what: string): Outcome {
  const text = feed(inputs, 'text');
  const bytes = feed(inputs, 'bytes');
  assert.deepEqual(bytes.kills, text.kills, `${what}: kills`);
  assert.deepEqual(bytes.repeated, text.repeated, `${what}: repeated kills`);
  assert.deepEqual(bytes.parser, text.parser, `${what}: parser counts`);
  assert.deepEqual(bytes.feed, text.feed, `${what}: feed counts`);
  return bytes;
}

/** `buf` cut at the given offsets (any order, repeats and out-of-range ones ignored). */
function cut(buf: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((a) => a % (buf.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(buf.subarray(from, p));
    from = p;
  }
  pieces.push(buf.subarray(from));
  return pieces;
}

function every(buf: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) pieces.push(buf.subarray(i, i + size));
  return pieces;
}

function fixtures(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return fixtures(path);
    return /\.(md|sh|mjs|jsonl)$/.test(name) ? [] : [path];
  });
}

test('every fixture gives the same kills and counts through writeBytes as through write, in pieces of any size', () => {
  const files = fixtures(DIR);
  assert.ok(files.length >= 60, `fixtures found: ${files.length}`);
  let kills = 0;
  for (const file of files) {
    const buf = readFileSync(file);
    const name = relative(DIR, file);
    for (const size of [1, 2, 3, 7, 61, 512, 4096, buf.length + 1]) {
      kills += assertSame([every(buf, size)], `${name} in pieces of ${size}`).kills.length;
    }
  }
  // The fixtures are OOM reports: a comparison of two empty outcomes would prove nothing.
  assert.ok(kills > 500, `kills compared: ${kills}`);
});

test('a raw record log is read in the bytes: only the messages of OOM reports become strings', () => {
  const buf = readFileSync(join(DIR, 'storm.kmsg'));
  const noise = Buffer.from(
    Array.from({ length: 2000 }, (_, i) => `6,${i + 1},${i * 10},-;eth0: renamed from veth${i}\n SUBSYSTEM=net\n`).join(''),
  );
  // The storm's SEQs start again after the noise: the parser sees a new boot's log, as it should.
  const out = assertSame([[noise, buf]], 'noise then storm.kmsg');
  assert.equal(out.textWrites, 0, 'no line went through write()');
  assert.ok(out.kills.length > 10, `kills: ${out.kills.length}`);
  assert.equal(
    out.pushed.filter((m) => m.startsWith('eth0: renamed')).length,
    0,
    'the noise records never became strings',
  );
  // A storm is one report after another: every record of it is read as a string, nothing else.
  const records = buf.toString('latin1').split('\n').filter((l) => l !== '').length;
  assert.equal(out.pushed.length, records);
});

test('a small raw log with every kind of line, cut in two at every offset and in three around every byte', () => {
  const text = [
    '6,1,100,-;usb 1-1: new high-speed USB device',
    ' SUBSYSTEM=usb',
    ' DEVICE=c189:1',
    '4,2,200,-,caller=T12;myapp invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0',
    '4,3,210,-;CPU: 1 PID: 4242 Comm: myapp Not tainted 6.8.0 #1',
    '4,4,220,-;memory: usage 65536kB, limit 65536kB, failcnt 10',
    '6,5,230,-;Tasks state (memory values in pages):',
    '6,6,240,-;[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name',
    '6,7,250,-;[   4242]     0  4242    40000    16000   200000        0             0 my\\xc3\\xa9app',
    '6,8,260,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a,task=myapp,pid=4242,uid=0',
    '3,9,270,-;Memory cgroup out of memory: Killed process 4242 (my\\xc3\\xa9app) total-vm:160000kB, anon-rss:64000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:196kB oom_score_adj:0\r',
    '14,10,280,-;Memory cgroup out of memory: Killed process 999 (forged) total-vm:1kB, anon-rss:2kB, file-rss:3kB',
    '6,14,290,-;après le déluge: 日本語 ✓ 🎉',
    ' lower=not a dict line',
    '6,15,abc,-;bad TS_USEC',
    '3,4,5 apples',
    '[  12.345678] Out of memory: Killed process 77 (dmesg-form) total-vm:1kB, anon-rss:2kB, file-rss:3kB',
    '',
    '6,16,300,-;Killed process 5 (half',
    '6,17,310,-;way) total-vm:1kB',
    '6,2,1,-;a new boot: SEQ went back',
  ].join('\n');
  const buf = Buffer.from(text, 'utf8');
  const whole = assertSame([[buf]], 'whole');
  assert.ok(whole.kills.length >= 2, `kills: ${whole.kills.length}`);
  for (let i = 0; i <= buf.length; i++) assertSame([cut(buf, [i])], `cut at ${i}`);
  for (let i = 0; i + 1 < buf.length; i++) assertSame([cut(buf, [i, i + 1])], `cut at ${i} and ${i + 1}`);
  // Two files, the first ending inside a record and inside a character: nothing carries over.
  const e = buf.indexOf('é');
  assertSame([[buf.subarray(0, e + 1)], [buf.subarray(e + 1)]], 'two files cut inside é');
});

test('a line longer than MAX_LINE_CHARS bytes but not characters, and one longer in both', () => {
  const short = '日'.repeat(MAX_LINE_CHARS / 2); // 32 Ki characters, 96 KiB
  const long = 'x'.repeat(MAX_LINE_CHARS + 5);
  const buf = Buffer.from(
    `6,1,1,-;${short}\n6,2,2,-;${long}\n4,3,3,-;Out of memory: Killed process 8 (a) total-vm:1kB, anon-rss:2kB, file-rss:3kB\n`,
  );
  const out = assertSame([[buf]], 'whole');
  assert.equal(out.kills.length, 1);
  assertSame([every(buf, 32 << 10)], 'in 32 KiB pieces');
  assertSame([every(buf, 1000)], 'in 1000-byte pieces');
});

test('scanKmsgPrefixBytes reads what scanKmsgPrefix reads, on any ASCII line', () => {
  const line = fc.string({ unit: fc.constantFrom(...'0123456789,,,;;-c x\r'.split('')), maxLength: 60 });
  fc.assert(
    fc.property(line, fc.nat(), (text, from) => {
      const s = from % (text.length + 1);
      const bytes = Buffer.from(text, 'latin1');
      const want = scanKmsgPrefix(text, s, text.length, newKmsgPrefix());
      assert.deepEqual(scanKmsgPrefixBytes(bytes, s, bytes.length, newKmsgPrefix()), want, JSON.stringify(text.slice(s)));
    }),
    { numRuns: 5000 },
  );
});

test('ordinary records whose time leaves an open report\'s window, anywhere in a report, both ways', () => {
  // After each record of each raw fixture, two ordinary records: the first at the time before it,
  // the second far ahead of it (or before it): the run they make must end the report where
  // one record at a time would.
  const files = fixtures(DIR).filter((f) => f.endsWith('.kmsg'));
  let kills = 0;
  for (const file of files) {
    const records = readFileSync(file, 'utf8').split('\n').filter((l) => /^\d+,\d+,\d+,/.test(l));
    // storm.kmsg is the same report many times over: its first 200 records are enough.
    records.length = Math.min(records.length, 200);
    for (const jump of [DEFAULT_STALE_AFTER_US * 3, -1_000_000]) {
      for (let at = 0; at < records.length; at++) {
        const out: string[] = [];
        let seq = 1;
        let ts = 0;
        const emit = (prio: string, t: number, rest: string): void => {
          out.push(`${prio},${seq++},${t},${rest}`);
        };
        records.forEach((r, i) => {
          const [prio, , t, ...rest] = r.split(',');
          ts = Math.max(0, Number(t));
          emit(prio as string, ts, rest.join(','));
          if (i === at) {
            emit('6', ts, '-;eth0: link up');
            emit('6', Math.max(0, ts + jump), '-;eth1: link up');
          }
        });
        kills += assertSame([[Buffer.from(`${out.join('\n')}\n`)]], `${relative(DIR, file)}, ${jump} µs after record ${at}`).kills.length;
      }
    }
  }
  assert.ok(kills > 100, `kills compared: ${kills}`);
});

// Random logs: raw records of the kernel and of userspace (which imitate kill lines), with SEQ
// gaps and SEQs going back, times jumping ahead or back, continuation lines, escapes, multi-byte
// and broken UTF-8, malformed records, and lines of other forms.
const REAL: string[] = ['k8s-systemd.kmsg', 'handwritten/v2-group-kill.kmsg', 'odd-paths.kmsg']
  .flatMap((f) => readFileSync(join(DIR, f), 'utf8').split('\n'))
  .filter((l) => l !== '')
  .map((l) => parseKmsgRecord(l).message);

const escapeKmsg = (s: string): string =>
  Buffer.from(s, 'utf8')
    .toString('latin1')
    .replace(/[\x00-\x1f\x7f-\xff\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

const message: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom(...REAL),
    fc.constantFrom('eth0: renamed from veth3f2a1b0', 'usb 1-1: new high-speed USB device number 2', 'audit: type=1400 apparmor="DENIED"'),
    fc.integer({ min: 1, max: 99999 }).map((pid) => `Memory cgroup out of memory: Killed process ${pid} (app) total-vm:1kB, anon-rss:2kB, file-rss:3kB`),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ maxLength: 40 }),
  )
  .map((m) => m.replace(/[\n\r]/g, ' '));

type Piece = Buffer;

const record: fc.Arbitrary<(seq: number, ts: number) => Piece> = fc
  .record({
    prio: fc.constantFrom(0, 3, 4, 6, 7, 6, 6, 14, 12, 30, 2047, 2048),
    flags: fc.constantFrom('-', 'c', '-,caller=T42', '+', ''),
    message,
    escaped: fc.boolean(),
    crlf: fc.constantFrom(false, false, false, true),
    dict: fc.array(fc.constantFrom(' SUBSYSTEM=pci', ' DEVICE=+pci:0000:00:1f.2', ' lower=x', ' =x', ' X', ' A_B=é'), { maxLength: 2 }),
  })
  .map((r) => (seq: number, ts: number) => {
    const msg = r.escaped ? escapeKmsg(r.message) : r.message;
    const eol = r.crlf ? '\r\n' : '\n';
    return Buffer.from(`${r.prio},${seq},${ts},${r.flags};${msg}${eol}${r.dict.map((d) => d + eol).join('')}`, 'utf8');
  });

const other: fc.Arbitrary<Piece> = fc.oneof(
  fc.constantFrom('6,7,abc,-;x', '6,8,9', '6,99999999999999999,1,-;x', '3,4,5 apples', '', '[  12.345678] eth0: up', 'plain text').map((s) => Buffer.from(`${s}\n`)),
  message.map((m) => Buffer.from(`[   99.000001] ${m}\n`, 'utf8')),
  // Broken UTF-8: a lone lead byte, a stray continuation byte, an invalid byte.
  fc.constantFrom(0xc3, 0x80, 0xff, 0xe6).map((b) => Buffer.concat([Buffer.from('6,50,1,-;bad '), Buffer.from([b]), Buffer.from(' byte\n')])),
);

const step = fc.oneof(
  { weight: 6, arbitrary: record.map((r) => ({ r, gap: 0, back: false, jump: 0 })) },
  { weight: 1, arbitrary: fc.tuple(record, fc.integer({ min: 1, max: 5 })).map(([r, gap]) => ({ r, gap, back: false, jump: 0 })) },
  { weight: 1, arbitrary: record.map((r) => ({ r, gap: 0, back: true, jump: 0 })) },
  { weight: 1, arbitrary: fc.tuple(record, fc.constantFrom(-5_000_000, 40_000_000)).map(([r, jump]) => ({ r, gap: 0, back: false, jump })) },
  { weight: 1, arbitrary: other },
);

function render(steps: readonly (Piece | { r: (seq: number, ts: number) => Piece; gap: number; back: boolean; jump: number })[]): Buffer {
  let seq = 10;
  let ts = 1_000_000;
  const parts: Buffer[] = [];
  for (const s of steps) {
    if (Buffer.isBuffer(s)) {
      parts.push(s);
      continue;
    }
    seq = s.back ? Math.max(0, seq - 7) : seq + 1 + s.gap;
    ts = Math.max(0, ts + 10 + s.jump);
    parts.push(s.r(seq, ts));
  }
  return Buffer.concat(parts);
}

test('random raw record logs, cut anywhere, give the same kills and counts both ways', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 80 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (steps, cuts, twoFiles) => {
      const buf = render(steps);
      const pieces = cut(buf, cuts);
      if (!twoFiles || pieces.length < 2) {
        assertSame([pieces], 'one file');
        return;
      }
      const half = pieces.length >> 1;
      assertSame([pieces.slice(0, half), pieces.slice(half)], 'two files');
    }),
    { numRuns: 1500 },
  );
});
