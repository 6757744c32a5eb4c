import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountInfo } from '../../src/cgroup/mountinfo.js';
import { parseProcCgroup } from '../../src/cgroup/procCgroup.js';
import { layoutFromMounts } from '../../src/cgroup/mode.js';
import { parseFlatKeyed, parseCount } from '../../src/cgroup/files/flatKeyed.js';
import { parseMemoryEvents } from '../../src/cgroup/files/memoryEvents.js';
import { parseMemoryOomControl } from '../../src/cgroup/files/memoryOomControl.js';
import { parseMemoryPressure } from '../../src/cgroup/files/memoryPressure.js';
import { parseMemoryValue, parsePidList } from '../../src/cgroup/files/memoryValue.js';
import { workingSet } from '../../src/cgroup/files/memoryStat.js';
import { ParseError } from '../../src/errors.js';
import { DEFAULT_ROOTS } from '../../src/roots.js';

// Captured on this machine (hybrid: v1 memory, cgroup2 with hugetlb only).
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V2 = `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`;
const V1_ONLY = `25 20 0:22 / /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n26 20 0:23 /kubepods /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu,cpuacct\n`;

test('mountinfo: fields, optional fields, octal escapes', () => {
  const m = parseMountInfo(V2 + V1_ONLY);
  assert.equal(m.length, 3);
  assert.equal(m[0]?.fsType, 'cgroup2');
  assert.equal(m[0]?.mountPoint, '/sys/fs/cgroup');
  assert.deepEqual(m[0]?.superOptions, ['rw', 'nsdelegate', 'memory_recursiveprot']);
  assert.equal(m[2]?.mountPoint, '/sys/fs/cgroup/cpu x');
  assert.equal(m[2]?.root, '/kubepods');
  assert.throws(() => parseMountInfo('1 2 3 / /x rw\n'), ParseError);
});

test('mode: hybrid, v2, v1 decided from mounts; name=systemd is not a controller', () => {
  const hybrid = layoutFromMounts(parseMountInfo(HYBRID), DEFAULT_ROOTS, () => 'hugetlb\n');
  assert.equal(hybrid.mode, 'hybrid');
  assert.deepEqual(hybrid.memory && { v: hybrid.memory.version, m: hybrid.memory.mount }, { v: 1, m: '/sys/fs/cgroup/memory' });
  assert.equal(hybrid.v1.length, 2);
  const v2 = layoutFromMounts(parseMountInfo(V2), DEFAULT_ROOTS, () => 'cpuset cpu io memory pids\n');
  assert.equal(v2.mode, 'v2');
  assert.deepEqual(v2.memory && { v: v2.memory.version, m: v2.memory.mount }, { v: 2, m: '/sys/fs/cgroup' });
  const v2NoMem = layoutFromMounts(parseMountInfo(V2), DEFAULT_ROOTS, () => 'cpu pids\n');
  assert.equal(v2NoMem.memory, null);
  const v1 = layoutFromMounts(parseMountInfo(V1_ONLY), DEFAULT_ROOTS, () => undefined);
  assert.equal(v1.mode, 'v1');
});

test('mode: --cgroup-root rebases mounts under /sys/fs/cgroup only', () => {
  const roots = { ...DEFAULT_ROOTS, cgroup: '/tmp/fx' };
  const l = layoutFromMounts(parseMountInfo(HYBRID), roots, () => '');
  assert.equal(l.memory?.mount, '/tmp/fx/memory');
  assert.equal(l.memory?.hostMount, '/sys/fs/cgroup/memory');
  const v2 = layoutFromMounts(parseMountInfo(V2), roots, (m) => (m === '/tmp/fx' ? 'memory' : undefined));
  assert.equal(v2.memory?.mount, '/tmp/fx');
});

test('/proc/self/cgroup', () => {
  const e = parseProcCgroup('4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/user.slice\n');
  assert.deepEqual(e[0], { hierarchyId: 4, controllers: ['memory'], path: '/process_api/abc' });
  assert.deepEqual(e[1]?.controllers, ['cpu', 'cpuacct']);
  assert.deepEqual(e[2], { hierarchyId: 0, controllers: [], path: '/user.slice' });
  assert.throws(() => parseProcCgroup('garbage\n'), ParseError);
});

test('flat-keyed files: unknown keys kept, malformed lines rejected with file and line', () => {
  const m = parseFlatKeyed('cache 4096\nfuture_key 7\n', 'memory.stat');
  assert.equal(m.get('future_key'), 7);
  assert.throws(() => parseFlatKeyed('cache 4096\nrss x\n', 'memory.stat'), (e: unknown) => e instanceof ParseError && /memory\.stat:2/.test(e.message));
  assert.throws(() => parseFlatKeyed('a b c\n', 'f'), ParseError);
});

test('numbers: v1 unlimited is Infinity, values between 2^53 and 2^62 are refused', () => {
  assert.equal(parseCount('9223372036854771712', 'f'), Infinity);
  assert.equal(parseCount('4611686018427387904', 'f'), Infinity);
  assert.throws(() => parseCount('9007199254740993', 'f'), ParseError);
  assert.equal(parseMemoryValue('9223372036854771712\n', 'memory.limit_in_bytes'), null);
  assert.equal(parseMemoryValue('max\n', 'memory.max'), null);
  assert.equal(parseMemoryValue('67108864\n', 'memory.max'), 67108864);
  assert.throws(() => parseMemoryValue('\n', 'memory.max'), ParseError);
});

test('memory.events: old kernels lack oom_group_kill (null, not 0)', () => {
  const e = parseMemoryEvents('low 0\nhigh 3\nmax 12\noom 1\noom_kill 1\n');
  assert.deepEqual(e, { low: 0, high: 3, max: 12, oom: 1, oom_kill: 1, oom_group_kill: null });
  assert.equal(parseMemoryEvents('low 0\nhigh 0\nmax 0\noom 1\noom_kill 5\noom_group_kill 1\n').oom_group_kill, 1);
});

test('memory.oom_control', () => {
  assert.deepEqual(parseMemoryOomControl('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n'), { oom_kill_disable: false, under_oom: false, oom_kill: 3 });
  assert.deepEqual(parseMemoryOomControl('oom_kill_disable 1\nunder_oom 1\n'), { oom_kill_disable: true, under_oom: true, oom_kill: null });
  assert.throws(() => parseMemoryOomControl('oom_kill 3\n'), ParseError);
});

test('memory.pressure (PSI)', () => {
  const p = parseMemoryPressure('some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n');
  assert.deepEqual(p.some, { avg10: 1.5, avg60: 0.25, avg300: 0, total_us: 123456 });
  assert.equal(p.full?.total_us, 99);
  assert.throws(() => parseMemoryPressure('some avg10=x\n'), ParseError);
});

test('working set = usage - inactive file, floor 0, per version', () => {
  assert.equal(workingSet(100, new Map([['total_inactive_file', 30], ['inactive_file', 5]]), 1), 70);
  assert.equal(workingSet(100, new Map([['inactive_file', 30]]), 2), 70);
  assert.equal(workingSet(10, new Map([['inactive_file', 30]]), 2), 0);
});

test('cgroup.procs', () => {
  assert.deepEqual(parsePidList('1\n22\n'), [1, 22]);
  assert.deepEqual(parsePidList(''), []);
  assert.throws(() => parsePidList('1\nx\n'), ParseError);
});
