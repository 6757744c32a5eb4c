/**
 * The daemon's container identities (src/daemon/identities.ts) on a runtime tree written in a temp
 * directory: only cgroups of containers cost a read; an identity without an init pid is read again
 * after a poll; a malformed file is counted at each read but logged once; an identity outlives its
 * container's last cgroup by the retention, not a moment longer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ContainerIdentities, REREAD_POLLS } from '../../src/daemon/identities.js';
import { readIdentity } from '../../src/runtime/read.js';
import { runtimeRootsUnder } from '../../src/runtime/roots.js';

const ID = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const TASKS = join('run', 'containerd', 'io.containerd.runtime.v2.task', 'k8s.io');

function bundle(host: string, id: string, annotations: Record<string, string> | string, pid?: number): void {
  const dir = join(host, TASKS, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), typeof annotations === 'string' ? annotations : JSON.stringify({ ociVersion: '1.0.2', annotations }));
  if (pid !== undefined) writeFileSync(join(dir, 'init.pid'), String(pid));
}

function setup(retentionMs = 1000) {
  const host = mkdtempSync(join(tmpdir(), 'oomwatch-identities-'));
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const registry = new Registry();
  let clock = 0;
  const reads: string[] = [];
  const ids = new ContainerIdentities({
    roots: runtimeRootsUnder(host), retentionMs, registry, log, now: () => clock,
    read: (owner, roots) => {
      reads.push(owner.container_id ?? '(none)');
      return readIdentity(owner, roots);
    },
  });
  return { host, ids, lines, registry, reads, advance: (ms: number) => void (clock += ms), remove: () => rmSync(host, { recursive: true, force: true }) };
}

const annotations = { 'io.kubernetes.cri.sandbox-namespace': 'shop', 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.container-name': 'app', 'io.kubernetes.cri.image-name': 'nginx:1' };

test('only a cgroup that names a container is read, once per container', () => {
  const s = setup();
  try {
    bundle(s.host, ID, annotations, 42);
    s.ids.added('/system.slice/ssh.service');
    s.ids.added('/kubepods.slice/kubepods-burstable.slice');
    assert.deepEqual(s.reads, [], 'no container: no read');
    s.ids.added(`/kubepods.slice/cri-containerd-${ID}.scope`);
    s.ids.added(`/kubepods.slice/cri-containerd-${ID}.scope/sub`);
    assert.deepEqual(s.reads, [ID], "a cgroup below the container's reads nothing more");
    assert.deepEqual([s.ids.get(ID)?.pod, s.ids.get(ID)?.container, s.ids.get(ID)?.init_pid], ['web-0', 'app', 42]);
    s.ids.refresh();
    assert.equal(s.reads.length, 1, 'complete: not read again');
  } finally {
    s.remove();
  }
});

test('an identity without an init pid yet is read again after each poll until the pid is there', () => {
  const s = setup();
  try {
    bundle(s.host, ID, annotations);
    s.ids.added(`/kubepods.slice/cri-containerd-${ID}.scope`);
    assert.equal(s.ids.get(ID)?.init_pid, null);
    assert.equal(s.ids.get(ID)?.pod, 'web-0', 'what is known is there at once');
    s.ids.refresh();
    assert.equal(s.reads.length, 2);
    writeFileSync(join(s.host, TASKS, ID, 'init.pid'), '4242');
    s.ids.refresh();
    assert.equal(s.ids.get(ID)?.init_pid, 4242);
    s.ids.refresh();
    assert.equal(s.reads.length, 3, 'complete now: no more reads');
    // A container whose files never name a pid is given up after REREAD_POLLS polls.
    bundle(s.host, OTHER, annotations);
    s.ids.added(`/kubepods.slice/cri-containerd-${OTHER}.scope`);
    for (let i = 0; i < REREAD_POLLS + 5; i++) s.ids.refresh();
    assert.equal(s.reads.filter((r) => r === OTHER).length, 1 + REREAD_POLLS);
  } finally {
    s.remove();
  }
});

test('a malformed file: counted, logged once, never fatal; the container keeps what its path says', async () => {
  const s = setup();
  try {
    bundle(s.host, ID, '{"annotations": {"io.kubernetes.cri.sandbox-name": 7}}');
    s.ids.added(`/kubepods.slice/cri-containerd-${ID}.scope`);
    s.ids.gone(`/kubepods.slice/cri-containerd-${ID}.scope`);
    s.ids.added(`/kubepods.slice/cri-containerd-${ID}.scope`);
    assert.equal(s.ids.get(ID), undefined);
    const logged = s.lines.filter((l) => l['event'] === 'runtime_metadata_error');
    assert.equal(logged.length, 1, 'logged once');
    assert.match(String(logged[0]?.['file']), /config\.json$/);
    const errors = (await s.registry.getSingleMetric('oomwatch_runtime_metadata_errors_total')?.get())?.values[0]?.value;
    assert.equal(errors, 2, 'counted at each read');
  } finally {
    s.remove();
  }
});

test("an identity outlives its container's last cgroup by the retention", () => {
  const s = setup(1000);
  try {
    bundle(s.host, ID, annotations, 42);
    const cg = `/kubepods.slice/cri-containerd-${ID}.scope`;
    s.ids.added(cg);
    s.ids.added(`${cg}/sub`);
    s.ids.gone(`${cg}/sub`);
    s.advance(5000);
    assert.equal(s.ids.get(ID)?.pod, 'web-0', 'a cgroup of the container is still there: live');
    rmSync(join(s.host, TASKS, ID), { recursive: true });
    s.ids.gone(cg);
    s.advance(999);
    assert.equal(s.ids.get(ID)?.pod, 'web-0', 'gone, its files too: still known within the retention');
    s.advance(1);
    assert.equal(s.ids.get(ID), undefined, 'dropped after it');
  } finally {
    s.remove();
  }
});

test('no runtime installed: nothing known, nothing logged', () => {
  const s = setup();
  try {
    s.ids.added(`/docker/${ID}`);
    s.ids.added(`/kubepods/burstable/pod0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90/${OTHER}`);
    assert.equal(s.ids.get(ID), undefined);
    assert.deepEqual(s.lines, []);
  } finally {
    s.remove();
  }
});
