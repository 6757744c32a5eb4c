/**
 * The text feeder and lines longer than any kernel line: each is one malformed line, only its start
 * is held, and reading goes on with the next line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelLogFeeder, MAX_LINE_CHARS } from '../../src/logfmt/feed.js';
import { OomReportParser } from '../../src/oom/report.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'oom');
const REPORT = readFileSync(join(FIX, 'systemd-service.kmsg'), 'utf8');
const FIRST_SEQ = Number(REPORT.split(',')[1]);

function feed(chunks: Iterable<string>): { feeder: KernelLogFeeder; parser: OomReportParser; pids: number[] } {
  const pids: number[] = [];
  const parser = new OomReportParser({ onKill: (e) => pids.push(e.pid) });
  const feeder = new KernelLogFeeder(parser);
  feeder.begin('test');
  for (const c of chunks) feeder.write(c);
  feeder.end();
  return { feeder, parser, pids };
}

/** A line of `n` characters with a kmsg prefix of SEQ `seq`, cut into 64 KiB chunks, then '\n'. */
function* longLine(seq: number, n: number): Generator<string> {
  const prefix = `6,${seq},1,-;`;
  yield prefix;
  const piece = 'y'.repeat(64 * 1024);
  let left = n - prefix.length;
  while (left > 0) {
    const k = Math.min(left, piece.length);
    yield k === piece.length ? piece : piece.slice(0, k);
    left -= k;
  }
  yield '\n';
}

test('a 20 MB line over many chunks is one malformed line; its SEQ counts, the report after it is read', () => {
  const { feeder, parser, pids } = feed([...longLine(FIRST_SEQ - 1, 20_000_000), REPORT]);
  assert.deepEqual(pids, [6009]);
  assert.equal(feeder.stats.malformed, 1);
  assert.equal(feeder.stats.overlong, 1);
  assert.equal(parser.stats.lost, 0);
  const ex = feeder.stats.malformedExamples[0];
  assert.deepEqual([ex?.line, ex?.chars, ex?.text.length], [1, 20_000_000, 200]);
  assert.ok(ex?.text.startsWith(`6,${FIRST_SEQ - 1},1,-;yyy`));
  // The lines after it keep their numbers.
  assert.equal(feeder.stats.lines, 1 + REPORT.trimEnd().split('\n').length);
});

test('a too long line is malformed however it is cut: in one chunk, cut in two, unterminated at the end', () => {
  const line = `6,${FIRST_SEQ - 1},1,-;${'z'.repeat(MAX_LINE_CHARS)}`;
  const whole = feed([`${line}\n${REPORT}`]);
  const cut = feed([line.slice(0, 1000), `${line.slice(1000)}\n${REPORT}`]);
  const last = feed([REPORT, line]);
  for (const { feeder, pids } of [whole, cut, last]) {
    assert.deepEqual(pids, [6009]);
    assert.deepEqual([feeder.stats.malformed, feeder.stats.overlong], [1, 1]);
    assert.equal(feeder.stats.malformedExamples[0]?.chars, line.length);
  }
  // One character less is a line like any other (a kmsg record here).
  const fits = feed([`6,${FIRST_SEQ - 1},1,-;${'z'.repeat(MAX_LINE_CHARS - 1 - `6,${FIRST_SEQ - 1},1,-;`.length)}\n`]);
  assert.deepEqual([fits.feeder.stats.malformed, fits.feeder.stats.formats.kmsg], [0, 1]);
});

test('lines without a facility are counted; kmsg, dmesg -x and journal lines have one', () => {
  const plain = feed(['[    1.000000] a\n[    2.000000] b\nbare text\n<6>[    3.000000] c\n']);
  assert.equal(plain.feeder.stats.noFacility, 4);
  const sourced = feed(['6,1,1,-;a\nkern  :info  : [    1.000000] b\nNov 28 05:27:31 host kernel: c\n-- Boot 0123 --\n']);
  assert.equal(sourced.feeder.stats.noFacility, 0);
});
