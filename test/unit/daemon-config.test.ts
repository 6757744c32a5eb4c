import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseListen, runtimeRootsOf, DEFAULT_CONFIG, ConfigError } from '../../src/daemon/config.js';
import { DEFAULT_RUNTIME_ROOTS } from '../../src/runtime/roots.js';
import { parseDuration } from '../../src/daemon/duration.js';
import { globToRegExp, makeCgroupFilter } from '../../src/daemon/glob.js';

test('an empty config is the embedded defaults', () => {
  assert.deepEqual(parseConfig('', 'c.yml'), DEFAULT_CONFIG);
  assert.deepEqual(parseConfig('# nothing\n', 'c.yml'), DEFAULT_CONFIG);
});

test('a full YAML config', () => {
  const c = parseConfig(
    `listen: ":9100"
poll_interval: 250ms
state_dir: /tmp/s
log_level: debug
kmsg: false
watch: {include: ["/kubepods/**"], exclude: ["/kubepods/besteffort/**"]}
warn: {working_set_ratio: 0.8, hysteresis: 0.1}
cgroups:
  - name: batch/worker-1
    memory: 64M
    memory_low: 16M
    oom_kill: false
  - {name: /batch/worker-2, memory: 1073741824, swap: max}
`,
    'c.yml',
  );
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9100 });
  assert.equal(c.pollIntervalMs, 250);
  assert.equal(c.kmsg, false);
  assert.deepEqual(c.watch, { include: ['/kubepods/**'], exclude: ['/kubepods/besteffort/**'] });
  assert.deepEqual(c.warn, { workingSetRatio: 0.8, hysteresis: 0.1 });
  assert.deepEqual(c.cgroups, [
    { path: '/batch/worker-1', limits: { memory: 64 * 2 ** 20, memoryLow: 16 * 2 ** 20, oomKill: false } },
    { path: '/batch/worker-2', limits: { memory: 2 ** 30, swap: 'max' } },
  ]);
});

test('JSON is accepted too', () => {
  assert.equal(parseConfig('{"poll_interval": "2s"}', 'c.json').pollIntervalMs, 2000);
});

test('errors name the file, the key path and what is wrong (exit 2)', () => {
  const cases: [string, RegExp][] = [
    ['cgroups:\n  - name: a\n    memory: lots\n', /^c\.yml: cgroups\[0\]\.memory: .*"lots" is not a size/],
    ['cgroups:\n  - {name: a}\n  - {name: ../x}\n', /^c\.yml: cgroups\[1\]\.name: .*stay inside the hierarchy/],
    ['cgroups:\n  - {name: a}\n  - {name: /a}\n', /cgroups\[1\]\.name: \/a is declared twice/],
    ['cgroups:\n  - {name: a, memroy: 1M}\n', /cgroups\[0\]\.memroy: unknown setting/],
    ['poll_interval: fast\n', /^c\.yml: poll_interval: .*not a duration/],
    ['listen: 9742\n', /^c\.yml: listen: expected a string/],
    ['listen: "localhost"\n', /^c\.yml: listen: .*not HOST:PORT/],
    ['bogus: 1\n', /^c\.yml: bogus: unknown setting/],
    ['warn: {working_set_ratio: 1.5}\n', /warn\.working_set_ratio: expected a number in \(0, 1\]/],
    ['watch: {include: "/x"}\n', /watch\.include: expected a list of strings/],
    ['- a\n- b\n', /\(top level\): expected a mapping/],
    ['a: [\n', /^c\.yml:\d+:\d+: not valid YAML/],
    ['kmsg: 1\n', /kmsg: expected true or false/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseConfig(text, 'c.yml'), (e: unknown) => e instanceof ConfigError && e.exitCode === 2 && re.test(e.message), text);
  }
});

test('listen addresses', () => {
  assert.deepEqual(parseListen('127.0.0.1:9742'), { host: '127.0.0.1', port: 9742 });
  assert.deepEqual(parseListen(':9742'), { host: '0.0.0.0', port: 9742 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListen('1.2.3.4:70000'));
});

test('durations', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2m'), 120000);
  for (const bad of ['1', '0s', '-1s', 's', '1d']) assert.throws(() => parseDuration(bad), bad);
});

test('days only where asked (spans looked back over): kills --since, recent_kills.max_age', () => {
  assert.equal(parseDuration('2d', '--since', { days: true }), 2 * 86_400_000);
  assert.equal(parseDuration('30m', '--since', { days: true }), 1_800_000);
  assert.throws(() => parseDuration('1w', '--since', { days: true }), /--since: "1w" is not a duration; write e.g. 30m, 1h, 2d/);
});

test('recent_kills: how many kills the record keeps and for how long', () => {
  assert.deepEqual(parseConfig('recent_kills: {keep: 50, max_age: 7d}\n', 'c.yml').recentKills, { keep: 50, maxAgeMs: 7 * 86_400_000 });
  assert.deepEqual(parseConfig('recent_kills: {keep: 50}\n', 'c.yml').recentKills, { keep: 50, maxAgeMs: DEFAULT_CONFIG.recentKills.maxAgeMs });
  for (const [text, re] of [
    ['recent_kills: {keep: 0}\n', /c\.yml: recent_kills\.keep: expected a whole number ≥ 1, got 0/],
    ['recent_kills: {keep: 1.5}\n', /recent_kills\.keep: expected a whole number/],
    ['recent_kills: {max_age: 1w}\n', /c\.yml: recent_kills\.max_age: .*"1w" is not a duration/],
    ['recent_kills: {count: 5}\n', /recent_kills\.count: unknown setting; known: keep, max_age/],
  ] as const) {
    assert.throws(() => parseConfig(text, 'c.yml'), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
  }
});

test('cgroup globs: * within a segment, ** across segments', () => {
  assert.ok(globToRegExp('/**').test('/'));
  assert.ok(globToRegExp('/**').test('/a/b'));
  assert.ok(globToRegExp('/system.slice/*.service').test('/system.slice/ssh.service'));
  assert.ok(!globToRegExp('/system.slice/*.service').test('/system.slice/a/ssh.service'));
  assert.ok(!globToRegExp('/system.slice/*.service').test('/system_slice/ssh.service'), 'dots are literal');
  assert.ok(globToRegExp('/kubepods/**/pod*').test('/kubepods/burstable/pod1'));
  assert.ok(globToRegExp('/kubepods/**/pod*').test('/kubepods/pod1'));
  const f = makeCgroupFilter(['/**'], ['/process_api/**', '/process_api']);
  assert.ok(f('/batch'));
  assert.ok(!f('/process_api'));
  assert.ok(!f('/process_api/x'));
});

test("runtimes: the default directories below host_root, a directory given explicitly as it is", () => {
  assert.deepEqual(runtimeRootsOf(DEFAULT_CONFIG.runtimes), DEFAULT_RUNTIME_ROOTS);
  const c = parseConfig('runtimes: {host_root: /host, docker: /data/docker}\n', 'c.yml');
  assert.deepEqual(runtimeRootsOf(c.runtimes), {
    docker: '/data/docker',
    dockerExec: '/host/run/docker',
    containerdState: '/host/run/containerd',
    containersStorage: '/host/var/lib/containers/storage',
    containersRunRoot: '/host/run/containers/storage',
    podLogs: '/host/var/log/pods',
  });
  assert.throws(() => parseConfig('runtimes: {dockre: /x}\n', 'c.yml'), /c\.yml: runtimes\.dockre: unknown setting; known: host_root, docker/);
  assert.throws(() => parseConfig('runtimes: {pod_logs: var/log/pods}\n', 'c.yml'), /runtimes\.pod_logs: expected an absolute path/);
});
