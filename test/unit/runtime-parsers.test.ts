/**
 * The runtime metadata parsers over the files real runtimes wrote (test/fixtures/runtime, made by
 * its capture.sh: dockerd 20.10, containerd 1.6, podman 4.3) and over malformed inline text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParseError } from '../../src/errors.js';
import { parseDockerConfigV2 } from '../../src/runtime/dockerConfigV2.js';
import { parseOciBundleConfig } from '../../src/runtime/ociBundle.js';
import {
  parseContainersJson,
  parseContainersStorageConfig,
  withStorageEntry,
} from '../../src/runtime/containersStorage.js';
import { isMainProcess, parsePidFile, type ContainerIdentity } from '../../src/runtime/identity.js';
import { parsePodLogsDirName } from '../../src/runtime/podLogs.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'runtime');
const ROOTS = join(FIX, 'roots');
const IDS = JSON.parse(readFileSync(join(FIX, 'ids.json'), 'utf8')) as Record<'docker' | 'containerd' | 'podman' | 'crio', string>;
const read = (...p: string[]): string => readFileSync(join(ROOTS, ...p), 'utf8');

const DOCKER_FILE = join('var/lib/docker/containers', IDS.docker, 'config.v2.json');
const BUNDLE = join('run/containerd/io.containerd.runtime.v2.task/k8s.io', IDS.containerd);
const STORAGE = 'var/lib/containers/storage/overlay-containers';

function assertParseError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ParseError, `expected a ParseError, got ${String(err)}`);
    assert.equal(err.code, 'EPARSE');
    assert.equal(err.source, file);
    assert.match(err.message, pattern);
    assert.ok(err.message.startsWith(file), 'the message names the file');
    return true;
  });
}

test('docker config.v2.json: cri-dockerd labels, the image asked for, the name without its slash, State.Pid', () => {
  const text = read(DOCKER_FILE);
  const raw = JSON.parse(text) as { State: { Pid: number } };
  assert.ok(raw.State.Pid > 0, 'the capture was taken while the container ran');
  assert.deepEqual(parseDockerConfigV2(text, DOCKER_FILE), {
    runtime: 'docker',
    namespace: 'shop',
    pod: 'web-7d9f8b6c5-x2x4q',
    pod_uid: '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90',
    container: 'app',
    image: 'oomwatch-test/busybox:1',
    container_name: 'oomwatch-test-web',
    init_pid: raw.State.Pid,
  });
});

test('docker: a stopped container keeps Pid 0 and Running false: no init pid', () => {
  const raw = JSON.parse(read(DOCKER_FILE)) as { State: { Running: boolean; Pid: number } };
  raw.State.Running = false;
  raw.State.Pid = 0;
  assert.equal(parseDockerConfigV2(JSON.stringify(raw), 'f').init_pid, null);
  // A pid left behind by a stopped container is not trusted.
  raw.State.Pid = 4242;
  assert.equal(parseDockerConfigV2(JSON.stringify(raw), 'f').init_pid, null);
  // Running but Pid still 0 (written between create and start) is not a pid either.
  raw.State.Pid = 0;
  raw.State.Running = true;
  assert.equal(parseDockerConfigV2(JSON.stringify(raw), 'f').init_pid, null);
});

test('docker: a plain container has no Kubernetes fields; absent sections are null, not errors', () => {
  assert.deepEqual(
    parseDockerConfigV2('{"Name":"/web","Config":{"Image":"nginx:1","Labels":null},"State":{"Running":true,"Pid":42}}', 'f'),
    { runtime: 'docker', namespace: null, pod: null, pod_uid: null, container: null, image: 'nginx:1', container_name: 'web', init_pid: 42 },
  );
  assert.deepEqual(parseDockerConfigV2('{}', 'f'), {
    runtime: 'docker', namespace: null, pod: null, pod_uid: null, container: null, image: null, container_name: null, init_pid: null,
  });
});

test('docker: a pod UID label that is not a UID is dropped, an upper-case one is canonical', () => {
  const labels = (uid: string): string => `{"Config":{"Labels":{"io.kubernetes.pod.uid":"${uid}"}}}`;
  assert.equal(parseDockerConfigV2(labels('not-a-uid'), 'f').pod_uid, null);
  assert.equal(parseDockerConfigV2(labels('0F3C9A2E-5B7D-4C1E-9A8F-2D6E4B1C7A90'), 'f').pod_uid, '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90');
});

test('docker: malformed files are ParseErrors naming the file and the field', () => {
  const f = '/var/lib/docker/containers/x/config.v2.json';
  assertParseError(() => parseDockerConfigV2('{"State":', f), f, /not JSON/);
  assertParseError(() => parseDockerConfigV2('[]', f), f, /expected a JSON object, found an array/);
  assertParseError(() => parseDockerConfigV2('{"Config":{"Labels":{"a":1}}}', f), f, /"Labels\.a" must be a string/);
  assertParseError(() => parseDockerConfigV2('{"Config":"x"}', f), f, /"Config" must be an object/);
  assertParseError(() => parseDockerConfigV2('{"Name":7}', f), f, /"Name" must be a string/);
  assertParseError(() => parseDockerConfigV2('{"State":{"Running":true,"Pid":"12"}}', f), f, /"State\.Pid" must be a non-negative integer/);
  assertParseError(() => parseDockerConfigV2('{"State":{"Running":"yes","Pid":12}}', f), f, /"State\.Running" must be a boolean/);
});

test('containerd bundle config.json: the CRI plugin annotations; containerd has no name besides the id', () => {
  const file = join(BUNDLE, 'config.json');
  assert.deepEqual(parseOciBundleConfig(read(file), file), {
    runtime: 'containerd',
    namespace: 'payments',
    pod: 'api-5c6d7e8f9-abcde',
    pod_uid: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    container: 'server',
    image: 'docker.io/oomwatch-test/busybox:1',
    container_name: null,
    init_pid: null,
  });
});

test('containerd: a spec without annotations (ctr, nerdctl) names nothing; bad annotations are ParseErrors', () => {
  assert.deepEqual(parseOciBundleConfig('{"ociVersion":"1.0.2"}', 'f'), {
    runtime: 'containerd', namespace: null, pod: null, pod_uid: null, container: null, image: null, container_name: null, init_pid: null,
  });
  assertParseError(() => parseOciBundleConfig('{"annotations":["x"]}', 'b/config.json'), 'b/config.json', /"annotations" must be an object/);
  assertParseError(() => parseOciBundleConfig('{"annotations":{"io.kubernetes.cri.sandbox-name":3}}', 'b/config.json'), 'b/config.json', /must be a string/);
});

test('pid files: runc writes the bare pid; empty is not yet; anything else is a ParseError', () => {
  const file = join(BUNDLE, 'init.pid');
  const text = read(file);
  assert.match(text, /^[0-9]+$/, 'runc writes no newline');
  assert.equal(parsePidFile(text, file), Number(text));
  const pidfile = join('run/containers/storage/overlay-containers', IDS.podman, 'userdata/pidfile');
  assert.equal(parsePidFile(read(pidfile), pidfile), Number(read(pidfile)));
  assert.equal(parsePidFile('4242\n', 'f'), 4242);
  assert.equal(parsePidFile('', 'f'), null);
  assertParseError(() => parsePidFile('abc', 'p'), 'p', /expected a pid, found "abc"/);
  assertParseError(() => parsePidFile('0', 'p'), 'p', /positive pid/);
  assertParseError(() => parsePidFile('-5', 'p'), 'p', /expected a pid/);
  assertParseError(() => parsePidFile('99999999999999999999', 'p'), 'p', /positive pid/);
});

test('CRI-O userdata/config.json: the Kubernetes annotations, CRI-O image name and k8s_ name', () => {
  const file = join(STORAGE, IDS.crio, 'userdata/config.json');
  assert.deepEqual(parseContainersStorageConfig(read(file), file), {
    runtime: 'crio',
    namespace: 'jobs',
    pod: 'batch-6b8c9d7f5-q7r8s',
    pod_uid: '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a',
    container: 'worker',
    image: 'quay.io/oomwatch-test/worker:2',
    container_name: 'k8s_worker_batch-6b8c9d7f5-q7r8s_jobs_5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a_0',
    init_pid: null,
  });
});

test('podman: the spec says libpod but not the name or image; containers.json does', () => {
  const file = join(STORAGE, IDS.podman, 'userdata/config.json');
  const spec = parseContainersStorageConfig(read(file), file);
  assert.deepEqual(spec, {
    runtime: 'podman', namespace: null, pod: null, pod_uid: null, container: null, image: null, container_name: null, init_pid: null,
  });
  const list = join(STORAGE, 'containers.json');
  const entries = parseContainersJson(read(list), list);
  assert.deepEqual([...entries.keys()].sort(), [IDS.podman, IDS.crio].sort());
  assert.deepEqual(entries.get(IDS.podman), {
    id: IDS.podman, names: ['oomwatch-test-pm'], image_name: 'localhost/oomwatch-test/busybox:1', name: 'oomwatch-test-pm',
  });
  assert.deepEqual(withStorageEntry(spec, entries.get(IDS.podman)), {
    ...spec, image: 'localhost/oomwatch-test/busybox:1', container_name: 'oomwatch-test-pm',
  });
  assert.equal(withStorageEntry(spec, undefined), spec);
});

test('containers.json: a names-only entry falls back to its first name; malformed lists are ParseErrors', () => {
  const entries = parseContainersJson('[{"id":"a","names":["n1","n2"],"metadata":"\\"opaque\\""},{"id":"b"}]', 'l');
  assert.deepEqual(entries.get('a'), { id: 'a', names: ['n1', 'n2'], image_name: null, name: null });
  assert.deepEqual(entries.get('b'), { id: 'b', names: [], image_name: null, name: null });
  const spec: ContainerIdentity = parseContainersStorageConfig('{"annotations":{"io.container.manager":"libpod"}}', 'c');
  assert.equal(withStorageEntry(spec, entries.get('a')).container_name, 'n1');
  assertParseError(() => parseContainersJson('{}', 'l'), 'l', /expected a JSON array/);
  assertParseError(() => parseContainersJson('[1]', 'l'), 'l', /entry 0 is not an object/);
  assertParseError(() => parseContainersJson('[{"names":[]}]', 'l'), 'l', /entry 0 has no "id"/);
  assertParseError(() => parseContainersJson('[{"id":"a","names":"x"}]', 'l'), 'l', /"names" must be an array of strings/);
  assertParseError(() => parseContainersJson('[{"id":"a","metadata":"{"}]', 'l'), 'l', /entry a: "metadata" is not JSON/);
});

test('/var/log/pods directory names: <namespace>_<pod>_<uid>, the old <uid>, nothing else', () => {
  const uid = '0f3c9a2e-5b7d-4c1e-9a8f-2d6e4b1c7a90';
  assert.deepEqual(parsePodLogsDirName(`shop_web-7d9f8b6c5-x2x4q_${uid}`), { namespace: 'shop', pod: 'web-7d9f8b6c5-x2x4q', pod_uid: uid });
  assert.deepEqual(parsePodLogsDirName(uid), { namespace: null, pod: null, pod_uid: uid });
  assert.equal(parsePodLogsDirName('shop_web'), null);
  assert.equal(parsePodLogsDirName('shop_web_not-a-uid'), null);
  assert.equal(parsePodLogsDirName(`a_b_c_${uid}`), null);
  assert.equal(parsePodLogsDirName(`_web_${uid}`), null);
  assert.equal(parsePodLogsDirName(`shop_web_${uid.toUpperCase()}`), null, 'kubelet writes the UID as the API server gives it, lower case');
  assert.equal(parsePodLogsDirName(uid.toUpperCase()), null);
});

test('main_process: the init pid the runtime recorded against the killed pid', () => {
  const id = parseDockerConfigV2('{"State":{"Running":true,"Pid":42}}', 'f');
  assert.equal(isMainProcess(id, 42), true);
  assert.equal(isMainProcess(id, 43), false);
  assert.equal(isMainProcess({ ...id, init_pid: null }, 42), null);
  assert.equal(isMainProcess(null, 42), null);
  assert.equal(isMainProcess(undefined, 42), null);
});
