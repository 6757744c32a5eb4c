/**
 * The kill line's counters and the memcg counter lines are read in place when their numbers are
 * plain digits, and by regex otherwise (messages.ts plainKillStats, memcgMeminfo.ts
 * plainCounterLine); the summary line's trailing pid and uid are read from the right by hand
 * (messages.ts summaryTailAt). Property: on plain, grouped, too long, negative and broken numbers,
 * with every optional part present or not and a character dropped or inserted, they give exactly
 * what the regexes give. The oracle is the regexes and the number reading, written out here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseKillLine, parseSummaryLine, summaryPidUid } from '../../src/oom/messages.js';
import { parseMemcgCounterLine } from '../../src/oom/memcgMeminfo.js';

const KB = String.raw`(\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+|\d{1,3}(?: \d{3})+|\d{1,19})kB`;
const STATS = new RegExp(
  String.raw`^ (?:total-vm|vsz):${KB}, anon-rss:${KB}, file-rss:${KB}(?:, shmem-rss:${KB})?(?:, UID:(\d{1,10}))?(?: pgtables:${KB})?(?: oom_score_adj:(-?\d{1,4}))?$`,
);
const COUNTER = new RegExp(String.raw`^(memory|memory\+swap|swap|kmem): usage ${KB}, limit ${KB}, failcnt (\d{1,20})$`);

function grouped(s: string): number {
  return Number(s.length > 3 && !/^-?\d+$/.test(s) ? s.replace(/[,. ]/g, '') : s);
}
function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = grouped(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** A number as a kernel, a paste or a broken line may print it. */
const number = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^\d{1,21}$/) },
  { weight: 2, arbitrary: fc.stringMatching(/^\d{1,3}([,. ]\d{3}){1,3}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', '-1', '12x', '1,23', '9007199254740993', '0000000000000000000') },
);
const adj = fc.oneof(fc.stringMatching(/^-?\d{1,5}$/), fc.constantFrom('', '-', '--1', '-0'));

/** Drop or insert one character somewhere, or leave the text as it is. */
function mutated(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(text, fc.nat(), fc.constantFrom('', '', '', 'drop', ' ', ',', 'k', '0', ':')).map(([t, at, how]) => {
    if (how === '' || t.length === 0) return t;
    const i = at % t.length;
    return how === 'drop' ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + how + t.slice(i);
  });
}

const killTail = mutated(
  fc
    .record({
      vm: fc.constantFrom(' total-vm:', ' vsz:'),
      n: fc.array(number, { minLength: 5, maxLength: 5 }),
      shmem: fc.boolean(),
      uid: fc.option(fc.oneof(fc.stringMatching(/^\d{1,11}$/), fc.constant('')), { nil: undefined }),
      pgtables: fc.boolean(),
      adj: fc.option(adj, { nil: undefined }),
    })
    .map((r) => {
      const [a, b, c, d, e] = r.n as [string, string, string, string, string];
      let t = `${r.vm}${a}kB, anon-rss:${b}kB, file-rss:${c}kB`;
      if (r.shmem) t += `, shmem-rss:${d}kB`;
      if (r.uid !== undefined) t += `, UID:${r.uid}`;
      if (r.pgtables) t += ` pgtables:${e}kB`;
      if (r.adj !== undefined) t += ` oom_score_adj:${r.adj}`;
      return t;
    }),
);

test('kill line counters: the in-place reading gives what the regex gives', () => {
  fc.assert(
    fc.property(killTail, (tail) => {
      // The comm and the line's start are fixed: only the counters are under test.
      fc.pre(!tail.slice(1).includes(' total-vm:') && !(tail.startsWith(' vsz:') && tail.includes(' total-vm:')));
      const k = parseKillLine(`Memory cgroup out of memory: Killed process 4242 (dd)${tail}`);
      const m = STATS.exec(tail);
      if (m === null) {
        assert.equal(k, undefined, tail);
        return;
      }
      assert.ok(k !== undefined, tail);
      assert.deepEqual(
        [k.totalVmKb, k.anonRssKb, k.fileRssKb, k.shmemRssKb, k.uid, k.pgtablesKb, k.oomScoreAdj],
        [1, 2, 3, 4, 5, 6, 7].map((i) => num(m[i])),
        tail,
      );
      // -0 stays -0, as Number('-0') reads it.
      assert.ok(Object.is(k.oomScoreAdj, num(m[7])), tail);
    }),
    { numRuns: 20_000 },
  );
});

const counterLine = mutated(
  fc
    .tuple(fc.constantFrom('memory', 'memory+swap', 'swap', 'kmem', 'memsw', 'memory+'), number, number, number)
    .map(([name, u, l, f]) => `${name}: usage ${u}kB, limit ${l}kB, failcnt ${f.replace(/[,. ]/g, '')}`),
);

test('memcg counter lines: the in-place reading gives what the regex gives', () => {
  fc.assert(
    fc.property(counterLine, (line) => {
      const got = parseMemcgCounterLine(line);
      const m = COUNTER.exec(line);
      if (m === null) {
        assert.equal(got, undefined, line);
        return;
      }
      const usage = grouped(m[2] as string) * 1024;
      const failcnt = Number(m[4]);
      if (!Number.isSafeInteger(usage) || !Number.isSafeInteger(failcnt)) {
        assert.equal(got, undefined, line);
        return;
      }
      const limitB = grouped(m[3] as string) * 1024;
      assert.deepEqual(got, [
        m[1] === 'memory+swap' ? 'memsw' : m[1],
        { usage, limit: Number.isSafeInteger(limitB) ? limitB : 'max', failcnt },
      ], line);
    }),
    { numRuns: 20_000 },
  );
});

test('the kernel-printed forms take the in-place reading and give the kernel values', () => {
  const k = parseKillLine(
    'Memory cgroup out of memory: Killed process 5961 (dd) total-vm:134048kB, anon-rss:65280kB, file-rss:1768kB, shmem-rss:0kB, UID:0 pgtables:176kB oom_score_adj:-998',
  );
  assert.deepEqual(
    k && [k.totalVmKb, k.anonRssKb, k.fileRssKb, k.shmemRssKb, k.uid, k.pgtablesKb, k.oomScoreAdj],
    [134048, 65280, 1768, 0, 0, 176, -998],
  );
  assert.deepEqual(parseMemcgCounterLine('memory+swap: usage 65536kB, limit 9007199254740988kB, failcnt 0'), [
    'memsw',
    { usage: 65536 * 1024, limit: 'max', failcnt: 0 },
  ]);
});

const SUMMARY_TAIL = /,pid=(\d{1,10}),uid=(\d{1,10})$/;
const summaryLine = mutated(
  fc
    .tuple(
      fc.constantFrom('', ',task=a,pid=1,uid=2,x', ',uid=', ',pid=,uid=', ',task=pid=7'),
      fc.stringMatching(/^\d{0,12}$/),
      fc.stringMatching(/^\d{0,12}$/),
      fc.constantFrom(',pid=', 'pid=', ',pid=1', ',pid'),
    )
    .map(
      ([mid, pid, uid, pidKey]) =>
        `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b${mid},task=dd${pidKey}${pid},uid=${uid}`,
    ),
);

test('summary line: the pid and uid read from the right are what the regex gives', () => {
  fc.assert(
    fc.property(summaryLine, (line) => {
      const m = SUMMARY_TAIL.exec(line);
      const want =
        m === null || !line.startsWith('oom-kill:constraint=')
          ? undefined
          : [Number(m[1]), Number(m[2])].every(Number.isSafeInteger)
            ? [Number(m[1]), Number(m[2])]
            : undefined;
      assert.deepEqual(summaryPidUid(line), want, line);
      // The body before the tail is what the summary's other fields are read from.
      const s = parseSummaryLine(line);
      if (want === undefined) assert.equal(s, undefined, line);
      else if (s !== undefined) assert.ok(line.slice(0, (m as RegExpExecArray).index).endsWith(`,task=${s.task}`), line);
    }),
    { numRuns: 20_000 },
  );
});
