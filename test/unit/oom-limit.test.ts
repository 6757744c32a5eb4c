/**
 * Which limit fired (src/oom/limit.ts): real kills from the captures in test/fixtures/oom and
 * test/fixtures/runtime/oom through the report parser, then the same real paths with the OOM cgroup
 * moved to each level above the victim (pod, QoS, kubepods, the capture prefix), for both kubelet
 * cgroup drivers, docker, systemd units and nested nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from '../helpers/cli.js';
import { parseKmsgRecord, type KmsgRecord } from '../../src/kmsg/record.js';
import { parseOomMessages } from '../../src/oom/report.js';
import { parseSummaryLine } from '../../src/oom/messages.js';
import type { OomKillEvent } from '../../src/oom/event.js';
import { resolveOwner } from '../../src/oom/owner.js';
import { limitFired, type LimitKill } from '../../src/oom/limit.js';

/** The raw /dev/kmsg records of a capture (continuation lines start with a space). */
function records(file: string): KmsgRecord[] {
  const raw: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    if (line.startsWith(' ') && raw.length > 0) raw[raw.length - 1] += `\n${line}`;
    else raw.push(line);
  }
  return raw.map((r) => parseKmsgRecord(`${r}\n`, file));
}

function events(...path: string[]): OomKillEvent[] {
  return parseOomMessages(records(join(FIXTURES, ...path))).events;
}

/**
 * test/fixtures/runtime/oom holds only the kernel's `oom-kill:` summary record of each kill: the
 * kill as limitFired reads it, from that record.
 */
function summaryKill(name: string): LimitKill & { victim_cgroup: string } {
  const [record] = records(join(FIXTURES, 'runtime', 'oom', name));
  const s = parseSummaryLine(record!.message);
  assert.ok(s !== undefined && !s.globalOom, `${name} holds a memcg summary line`);
  return { scope: 'cgroup', oom_cgroup: s.oomMemcg, victim_cgroup: s.taskMemcg };
}

const IDS = JSON.parse(readFileSync(join(FIXTURES, 'runtime', 'ids.json'), 'utf8')) as Record<string, string>;

/** A memory cgroup OOM at `oom` whose victim ran in `victim`. */
function memcg(oom: string, victim: string | null): LimitKill {
  return { scope: 'cgroup', oom_cgroup: oom, victim_cgroup: victim };
}

/** The parent of a cgroup path, `levels` up. */
function up(path: string, levels = 1): string {
  return path.split('/').slice(0, -levels).join('/');
}

// The victims' cgroups of the real captures.
const CGROUPFS = '/oomwatch-capture/kubepods/besteffort/pod7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';
const SYSTEMD_POD = '/oomwatch-capture/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f3c9a2e_5b7d_4c1e_9a8f_2d6e4b1c7a90.slice';

test('real captures: the container limit (both kubelet drivers, containerd), the pod slice, a unit, a parent, a system OOM', () => {
  const child = summaryKill('child.kmsg');
  const init = summaryKill('init.kmsg');
  const [cgroupfs] = events('oom', 'k8s-cgroupfs.kmsg');
  const [systemd] = events('oom', 'k8s-systemd.kmsg');
  const [service] = events('oom', 'systemd-service.kmsg');
  const [memcgV2] = events('oom', 'v2-real', 'memcg.kmsg');
  const [global] = events('oom', 'v2-real', 'global-oom.kmsg');
  const got = (e: LimitKill | undefined): [string | null, string | null, ReturnType<typeof limitFired>] => {
    assert.ok(e !== undefined, 'the capture holds a kill');
    return [e.oom_cgroup, e.victim_cgroup, limitFired(e)];
  };
  // cgroupfs driver, 32M on the container's own cgroup.
  assert.deepEqual(got(child), [child.victim_cgroup, child.victim_cgroup, 'container']);
  assert.match(child.victim_cgroup, /\/kubepods\/burstable\/pod[^/]+\/[0-9a-f]{64}$/);
  // systemd driver, 32M on the cri-containerd scope.
  assert.deepEqual(got(init), [init.victim_cgroup, init.victim_cgroup, 'container']);
  assert.match(init.victim_cgroup, /\.slice\/cri-containerd-[0-9a-f]{64}\.scope$/);
  assert.deepEqual(got(cgroupfs), [CGROUPFS, CGROUPFS, 'container']);
  // The limit was set on the pod slice; the hog ran in its container's scope.
  assert.deepEqual(got(systemd), [SYSTEMD_POD, `${SYSTEMD_POD}/cri-containerd-3b1f0e9c8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c.scope`, 'pod']);
  assert.deepEqual(got(service), ['/oomwatch-capture/system.slice/foo.service', '/oomwatch-capture/system.slice/foo.service', 'own']);
  assert.deepEqual(got(memcgV2), ['/cap-memcg', '/cap-memcg/work', 'ancestor']);
  assert.deepEqual([global!.scope, global!.oom_cgroup, limitFired(global!)], ['system', null, 'none']);
});

test('a storm in one limited cgroup: own where the report named the OOM cgroup; unknown for kills placed by pid alone', () => {
  const all = events('oom', 'storm.kmsg');
  assert.ok(all.length >= 10);
  const reported = all.filter((e) => e.oom_cgroup !== null);
  // A header-less kill placed in its cgroup by an earlier report's task table: the table says
  // where the task was, not whose limit this later OOM hit.
  const placed = all.filter((e) => e.oom_cgroup === null && e.victim_cgroup !== null);
  assert.ok(reported.length >= 1 && placed.length >= 1);
  assert.deepEqual(new Set(reported.map((e) => limitFired(e))), new Set(['own']));
  assert.deepEqual(new Set(placed.map((e) => limitFired(e))), new Set([null]));
});

test('a group kill: the first victim (named) gets its answer; members the kernel does not name get null for a plain path', () => {
  const [first, ...members] = events('oom', 'v2-real', 'group-kill.kmsg');
  assert.equal(first!.victim_cgroup, '/cap-group/a');
  assert.equal(limitFired(first!), 'ancestor');
  assert.equal(members.length, 2);
  for (const m of members) {
    assert.equal(m.victim_cgroup, null);
    assert.equal(limitFired(m), null);
  }
});

test('kubelet cgroupfs driver (Burstable/BestEffort): container, pod, QoS and kubepods (node), a prefix above (ancestor)', () => {
  const v = CGROUPFS;
  assert.equal(limitFired(memcg(v, v)), 'container');
  assert.equal(limitFired(memcg(up(v), v)), 'pod');
  assert.equal(up(v, 2), '/oomwatch-capture/kubepods/besteffort');
  assert.equal(limitFired(memcg(up(v, 2), v)), 'node');
  assert.equal(limitFired(memcg(up(v, 3), v)), 'node');
  assert.equal(up(v, 4), '/oomwatch-capture');
  assert.equal(limitFired(memcg(up(v, 4), v)), 'ancestor');
});

test('kubelet systemd driver (Burstable): scope, pod slice, QoS slice and kubepods.slice (node), a prefix above (ancestor)', () => {
  const v = summaryKill('init.kmsg').victim_cgroup;
  assert.equal(limitFired(memcg(up(v), v)), 'pod');
  assert.match(up(v, 2), /\/kubepods\.slice\/kubepods-burstable\.slice$/);
  assert.equal(limitFired(memcg(up(v, 2), v)), 'node');
  assert.match(up(v, 3), /\/kubepods\.slice$/);
  assert.equal(limitFired(memcg(up(v, 3), v)), 'node');
  assert.equal(up(v, 4), '/oomwatch-test/names-capture');
  assert.equal(limitFired(memcg(up(v, 4), v)), 'ancestor');
  assert.equal(limitFired(memcg('/oomwatch-test', v)), 'ancestor');
});

test('Guaranteed pods (no QoS level), both drivers: the pod\'s parent is kubepods (node)', () => {
  const uid = '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90';
  const id = IDS['containerd']!;
  const cgroupfs = `/kubepods/pod${uid}/${id}`;
  const systemd = `/kubepods.slice/kubepods-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`;
  for (const v of [cgroupfs, systemd]) {
    assert.equal(resolveOwner(v).pod_qos, 'guaranteed', v);
    assert.deepEqual([v, limitFired(memcg(v, v))], [v, 'container']);
    assert.deepEqual([v, limitFired(memcg(up(v), v))], [v, 'pod']);
    assert.deepEqual([v, limitFired(memcg(up(v, 2), v))], [v, 'node']);
  }
});

test('docker outside Kubernetes: its own cgroup (cgroupfs /docker/<id>, systemd docker-<id>.scope) is the container\'s; /docker is an ancestor', () => {
  const id = IDS['docker']!;
  assert.equal(limitFired(memcg(`/docker/${id}`, `/docker/${id}`)), 'container');
  assert.equal(limitFired(memcg('/docker', `/docker/${id}`)), 'ancestor');
  // A unit that is a container is the container's limit, not a unit's.
  const scope = `/system.slice/docker-${id}.scope`;
  assert.equal(limitFired(memcg(scope, scope)), 'container');
  assert.equal(limitFired(memcg('/system.slice', scope)), 'ancestor');
  // A cgroup the container made inside its own (systemd in a container) is still the container's.
  assert.equal(limitFired(memcg(`/docker/${id}/system.slice/app.service`, `/docker/${id}/system.slice/app.service`)), 'container');
  assert.equal(limitFired(memcg(`/docker/${id}`, `/docker/${id}/system.slice/app.service`)), 'container');
});

test('systemd units: the unit\'s own cgroup, also for a process in a cgroup below it (own); the slice (ancestor)', () => {
  assert.equal(limitFired(memcg('/system.slice/foo.service', '/system.slice/foo.service')), 'own');
  assert.equal(limitFired(memcg('/system.slice/foo.service', '/system.slice/foo.service/worker')), 'own');
  assert.equal(limitFired(memcg('/system.slice', '/system.slice/foo.service')), 'ancestor');
  // No unit at all: only the victim's own cgroup is `own`.
  assert.equal(limitFired(memcg('/cap-memcg/work', '/cap-memcg/work')), 'own');
  assert.equal(limitFired(memcg('/cap-memcg', '/cap-memcg/work')), 'ancestor');
});

test('CRI-O\'s conmon scope is in the pod but is no container: its own limit and the pod\'s are the pod\'s', () => {
  const conmon = `${SYSTEMD_POD}/crio-conmon-${IDS['crio']!}.scope`;
  assert.equal(resolveOwner(conmon).container_id, null);
  assert.equal(limitFired(memcg(conmon, conmon)), 'pod');
  assert.equal(limitFired(memcg(SYSTEMD_POD, conmon)), 'pod');
  assert.equal(limitFired(memcg(up(SYSTEMD_POD), conmon)), 'node');
});

test('a process in kubepods or a QoS cgroup itself, in no pod: the node\'s limit', () => {
  for (const v of [up(CGROUPFS, 2), up(CGROUPFS, 3), up(SYSTEMD_POD), up(SYSTEMD_POD, 2)]) {
    assert.equal(resolveOwner(v).pod_uid, null, v);
    assert.deepEqual([v, limitFired(memcg(v, v))], [v, 'node']);
  }
  assert.equal(limitFired(memcg(up(CGROUPFS, 3), up(CGROUPFS, 2))), 'node');
  assert.equal(limitFired(memcg('/oomwatch-capture', up(CGROUPFS, 2))), 'ancestor');
});

test('a node that runs in a container (kind): the node container\'s limit is an ancestor of the inner pod', () => {
  const node = `/docker/${IDS['docker']!}`;
  const v = `${node}${CGROUPFS.replace('/oomwatch-capture', '')}`;
  assert.equal(limitFired(memcg(v, v)), 'container');
  assert.equal(limitFired(memcg(up(v), v)), 'pod');
  assert.equal(limitFired(memcg(`${node}/kubepods`, v)), 'node');
  assert.equal(limitFired(memcg(node, v)), 'ancestor');
});

test('without the victim\'s cgroup (other group-kill members), the OOM cgroup\'s own path decides when it can', () => {
  const v = summaryKill('init.kmsg').victim_cgroup;
  assert.equal(limitFired(memcg(v, null)), 'container');
  assert.equal(limitFired(memcg(up(v), null)), 'pod');
  assert.equal(limitFired(memcg(up(v, 2), null)), 'node');
  assert.equal(limitFired(memcg(up(v, 3), null)), 'node');
  assert.equal(limitFired(memcg(up(CGROUPFS, 2), null)), 'node');
  assert.equal(limitFired(memcg(up(CGROUPFS, 3), null)), 'node');
  assert.equal(limitFired(memcg('/system.slice/foo.service', null)), null);
  assert.equal(limitFired(memcg(up(v, 4), null)), null);
});

test('what the report does not tell gives null; a system OOM gives none', () => {
  assert.equal(limitFired({ scope: null, oom_cgroup: null, victim_cgroup: '/a' }), null);
  // A memcg OOM (the kill line's prefix says so) whose summary line was not seen.
  assert.equal(limitFired({ scope: 'cgroup', oom_cgroup: null, victim_cgroup: '/a' }), null);
  assert.equal(limitFired({ scope: 'system', oom_cgroup: null, victim_cgroup: '/system.slice/app, v2.service' }), 'none');
  const summary = parseSummaryLine(
    'oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/kubepods/besteffort/pod7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/' +
      `${IDS['containerd']!},task=dd,pid=110,uid=0`,
  );
  assert.equal(summary?.globalOom, true);
  // A system OOM that kills a container is still no cgroup's limit.
  assert.equal(limitFired({ scope: 'system', oom_cgroup: null, victim_cgroup: summary!.taskMemcg }), 'none');
});

test('the owner given is the one located on the victim\'s path (the event carries it)', () => {
  const [systemd] = events('oom', 'k8s-systemd.kmsg');
  assert.equal(limitFired(systemd!, systemd!), 'pod');
  // An owner that names no pod or container on this path: only the path's own levels are known.
  const none = { unit: null, runtime: null, container_id: null, pod_uid: null, pod_qos: null };
  assert.equal(limitFired(systemd!, none), 'ancestor');
});
