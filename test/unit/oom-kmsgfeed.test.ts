import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KmsgEvent } from '../../src/kmsg/reader.js';
import { parseKmsgRecord } from '../../src/kmsg/record.js';
import { feedKmsgEvents } from '../../src/oom/kmsgFeed.js';
import { OomReportParser } from '../../src/oom/report.js';
import type { OomKillEvent } from '../../src/oom/event.js';

const rec = (raw: string): KmsgEvent => ({ type: 'record', record: parseKmsgRecord(raw) });
const KILL_STATS = 'total-vm:1000kB, anon-rss:500kB, file-rss:20kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0';

test('feedKmsgEvents: a userspace record inside a report neither counts nor breaks the report; notes are passed on', () => {
  const kills: OomKillEvent[] = [];
  const notes: string[] = [];
  const p = new OomReportParser({ onKill: (e) => kills.push(e) });
  feedKmsgEvents(
    p,
    [
      rec('4,10,1000,-;dd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0'),
      rec('6,11,1010,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=dd,pid=7,uid=0'),
      // Root forged a kill line between the summary and the real kill line (facility 1 = user).
      rec(`11,12,1015,-;Memory cgroup out of memory: Killed process 666 (forged) ${KILL_STATS}`),
      rec(`3,13,1020,-;Memory cgroup out of memory: Killed process 7 (dd) ${KILL_STATS}`),
      { type: 'lost', reason: 'overrun', count: 3, fromSeq: 14, nextSeq: 17 },
      rec('6,17,1030,-;something else'),
    ],
    { lost: (e) => notes.push(`lost ${e.count}`), malformed: () => notes.push('malformed'), rewind: () => notes.push('rewind') },
  );
  p.end();
  assert.deepEqual(kills.map((e) => [e.pid, e.victim_cgroup, e.oom_cgroup]), [[7, '/a/b', '/a']]);
  assert.equal(p.stats.foreign, 1);
  assert.equal(p.stats.lost, 3, 'the parser sees the gap itself');
  assert.equal(p.stats.headerlessKills, 0);
  assert.deepEqual(notes, ['lost 3']);
});
