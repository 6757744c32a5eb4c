/**
 * Real container runtimes for tests: a private `dockerd`, a standalone `containerd` and podman, each
 * with its socket, state and pids under a temporary directory, started by the test and stopped by
 * PID in its `after` hook, pass or fail, together with everything they started. The test image is one binary,
 * Debian's static busybox, imported into the runtime on the spot (no registry, no network).
 *
 * Order of the stop: the daemon's containers first (removed through the daemon), then the shims
 * left (processes in the session of the daemon's containerd: a shim re-parents itself to init when
 * it starts, and keeps containerd's session), then the daemon (SIGTERM, SIGKILL after 20 s), then
 * the mounts under the temporary directory, the cgroups the containers left and the directory.
 * Podman has no daemon: each container has its monitor (conmon, a session leader re-parented to
 * init, its pid in the container's `conmon.pid`), stopped the same way after the containers.
 * Needs root, a cgroup v1 memory hierarchy, and Debian's docker.io, containerd, runc, podman and
 * busybox-static (scripts/test-packages.debian).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, rmdirSync, symlinkSync, copyFileSync, writeFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { realKernelUnavailable } from './privileged.js';
import { TEST_PREFIX, removeCgroupTree, uniqueTestName } from './v1cgroup.js';
import { until } from './until.js';
import type { RuntimeRoots } from '../../src/runtime/roots.js';

/** Debian's busybox-static: a static binary, so it runs alone in an image of one file. */
export const BUSYBOX = '/bin/busybox';
/** The applets the test containers run, as links to busybox. */
const APPLETS = ['sh', 'sleep', 'dd', 'cat', 'true'];
/** The test image's name in docker, and (fully qualified, as containerd names images) in containerd. */
export const DOCKER_IMAGE = 'oomwatch-test/busybox:1';
export const CONTAINERD_IMAGE = 'docker.io/oomwatch-test/busybox:1';
/** containerd's namespace for the CRI plugin's containers: the one a Kubernetes node's are in. */
export const CONTAINERD_NAMESPACE = 'k8s.io';
/** Every cgroup hierarchy root (v1 controllers, `systemd`, `unified`): runc makes a container's cgroup in each. */
const CGROUP_MOUNT = '/sys/fs/cgroup';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 60_000;

/** The tools each runtime needs, with the Debian package that has them. */
const TOOLS = {
  dockerd: [['dockerd', 'docker.io'], ['docker', 'docker.io'], ['runc', 'runc']],
  containerd: [['containerd', 'containerd'], ['ctr', 'containerd'], ['runc', 'runc']],
  podman: [['podman', 'podman'], ['conmon', 'conmon'], ['runc', 'runc']],
} as const;
export type RuntimeName = keyof typeof TOOLS;

function which(tool: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const file = join(dir, tool);
    try {
      if (statSync(file).isFile()) return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** True when the ELF file has no program interpreter (PT_INTERP): statically linked. */
function isStaticElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false; // ELF, 64-bit
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Why these runtimes cannot run here, or undefined when they can. */
export function runtimesUnavailable(...names: RuntimeName[]): string | undefined {
  const kernel = realKernelUnavailable();
  if (kernel !== undefined) return kernel;
  for (const name of names) {
    for (const [tool, pkg] of TOOLS[name]) {
      if (which(tool) === undefined) return `no ${tool} on PATH (Debian package ${pkg}: bash scripts/install-deps --test)`;
    }
  }
  if (!existsSync(BUSYBOX) || !isStaticElf(BUSYBOX)) {
    return `${BUSYBOX} is not a static busybox (Debian package busybox-static: bash scripts/install-deps --test)`;
  }
  return undefined;
}

/** Options for a `describe()` that needs these runtimes: skipped where they are missing, a failure in CI (CI=true). */
export function realRuntimes(...names: RuntimeName[]): { skip?: string } {
  const why = runtimesUnavailable(...names);
  if (why === undefined) return {};
  if (process.env['CI'] === 'true') throw new Error(`real-runtime test cannot run in CI: ${why}`);
  return { skip: why };
}

/** What a finished command printed. */
export interface Output {
  readonly stdout: string;
  readonly bytes: Buffer;
  readonly stderr: string;
}

/**
 * Run a program to its end, stdin from `input`; reject, naming the command and its stderr, when it
 * exits non-zero or runs past the timeout (then it is killed by PID).
 */
export function run(
  cmd: string,
  args: readonly string[],
  {
    input,
    timeoutMs = COMMAND_TIMEOUT_MS,
    env,
    cwd,
  }: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env, cwd: cwd ?? process.cwd() });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      const stdout = bytes.toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) return resolve({ stdout, bytes, stderr });
      const how = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}`;
      reject(new Error(`${cmd} ${args.join(' ')}: ${how}: ${stderr.trim() || stdout.trim()}`));
    });
    // A program that exits without reading its stdin closes the pipe: EPIPE here is not its failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** The last lines of a daemon's log, for an error message. */
function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

/** The root file system of the test image as a tar stream: busybox in /bin, its applets linked to it. */
async function rootfsTar(dir: string): Promise<Buffer> {
  const root = join(dir, 'image-rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  try {
    return (await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-c', '.'])).bytes;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * The test image as an OCI image layout archive (image-spec image-layout.md): one uncompressed
 * layer, its config and manifest, and index.json naming it with containerd's
 * `io.containerd.image.name` annotation, which `ctr images import` takes as the image's name.
 */
async function ociArchive(dir: string): Promise<Buffer> {
  const layout = join(dir, 'image-oci');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (content: Buffer | string): { digest: string; size: number } => {
    const digest = sha256(content);
    writeFileSync(join(blobs, digest.slice('sha256:'.length)), content);
    return { digest, size: Buffer.byteLength(content) };
  };
  const layer = blob(await rootfsTar(dir));
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = blob(JSON.stringify({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: arch, os: 'linux' },
          annotations: { 'io.containerd.image.name': CONTAINERD_IMAGE, 'org.opencontainers.image.ref.name': '1' },
        },
      ],
    }),
  );
  try {
    return (await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-c', '.'])).bytes;
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

/** `/proc/<pid>/stat` fields 3 (state), 4 (ppid) and 6 (session), or undefined when the process is gone. */
function procStat(pid: number): { state: string; ppid: number; session: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The comm (field 2) is in parentheses and may hold anything: the fields after the last ')' are fixed.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '', ppid: Number(f[1]), session: Number(f[3]) };
}

function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * True while the process runs. A zombie has ended: a shim re-parented to init stays one until init
 * reaps it, and no signal of ours changes that.
 */
function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGTERM a process we started and wait for it to go; SIGKILL when it has not after the timeout. */
async function stopPid(pid: number, what: string): Promise<void> {
  signal(pid, 'SIGTERM');
  try {
    await until(`${what} (pid ${pid}) to exit after SIGTERM`, () => !alive(pid), Boolean, { timeoutMs: STOP_TIMEOUT_MS, everyMs: 50 });
  } catch {
    signal(pid, 'SIGKILL');
    await until(`${what} (pid ${pid}) to exit after SIGKILL`, () => !alive(pid), Boolean, { timeoutMs: STOP_TIMEOUT_MS, everyMs: 50 });
  }
}

/** Unmount what the runtime mounted under `dir` (overlay roots, shm), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) await run('umount', [m]);
}

/** The hierarchies under /sys/fs/cgroup (v1 controllers, `systemd`, `unified`), as directories. */
function cgroupHierarchies(): string[] {
  return readdirSync(CGROUP_MOUNT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(CGROUP_MOUNT, e.name, 'cgroup.procs')))
    .map((e) => join(CGROUP_MOUNT, e.name));
}

/** rmdir a cgroup when it is empty: EBUSY/ENOTEMPTY (someone's cgroups are in it) and ENOENT are fine. */
function rmdirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY' && code !== 'ENOENT') throw err;
  }
}

/** A daemon under test: its pid, its log, and how to stop it with all it started. */
abstract class RuntimeDaemon {
  readonly cleanups: (() => Promise<void> | void)[] = [];
  private stopped = false;

  constructor(
    readonly what: string,
    /** The temporary directory that holds everything of this daemon. */
    readonly dir: string,
    readonly pid: number,
    readonly log: string,
  ) {}

  /** The pid of the containerd that runs this daemon's containers (dockerd's own child, or the daemon). */
  protected abstract containerdPid(): number | undefined;
  /** Remove every container through the daemon. */
  protected abstract removeContainers(): Promise<void>;

  /**
   * Stop everything, in order: containers, shims, the daemon, mounts, cgroups, the directory. Runs
   * every step even when one fails, then throws all the failures. A second call does nothing.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { step, done } = cleanupSteps();
    if (alive(this.pid)) await step(() => this.removeContainers());
    const containerd = this.containerdPid();
    if (containerd !== undefined) {
      // Shims re-parent themselves to init but stay in containerd's session (containerd is a session leader).
      const shims = allPids().filter((p) => p !== containerd && procStat(p)?.session === containerd && alive(p));
      for (const shim of shims) await step(() => stopPid(shim, `${this.what}'s shim`));
    }
    await step(() => stopPid(this.pid, this.what));
    if (containerd !== undefined && containerd !== this.pid) await step(() => stopPid(containerd, `${this.what}'s containerd`));
    await step(() => unmountUnder(this.dir));
    for (const fn of this.cleanups.reverse()) await step(fn);
    await step(() => rmSync(this.dir, { recursive: true, force: true }));
    done(`stopping ${this.what} (${this.dir})`);
  }

  /** The log's tail, for a test's failure message. */
  logTail(lines = 30): string {
    return logTail(this.log, lines);
  }
}

/**
 * Cleanup that runs every step even when one fails: `step` runs one and keeps its failure,
 * `done` throws all of them at once (an AggregateError naming what was being stopped).
 */
function cleanupSteps(): { step: (fn: () => Promise<void> | void) => Promise<void>; done: (what: string) => void } {
  const errors: unknown[] = [];
  return {
    step: async (fn) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    },
    done: (what) => {
      if (errors.length > 0) throw new AggregateError(errors, `${what}: ${errors.map(String).join('; ')}`);
    },
  };
}

/**
 * Spawn a daemon in its own session (its log to a file), wait until `ready()` says it answers;
 * on timeout, or when it exits first, stop it and throw with its log's tail.
 */
async function startDaemon<D extends RuntimeDaemon>(make: (pid: number) => D, cmd: string, args: string[], log: string, ready: (d: D) => Promise<boolean>): Promise<D> {
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(`exited (${code ?? sig})`));
    child.once('error', (err) => resolve(`failed to start: ${err.message}`));
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`${cmd} did not start: ${await exited}`);
  const d = make(child.pid);
  let early: string | undefined;
  void exited.then((why) => (early = why));
  try {
    await until(
      `${d.what} to answer on its socket`,
      async () => {
        if (early !== undefined) throw new Error(`${d.what} ${early} before it answered`);
        return ready(d).catch(() => false);
      },
      Boolean,
      { timeoutMs: START_TIMEOUT_MS, everyMs: 100 },
    );
  } catch (err) {
    const message = `${(err as Error).message}\n--- ${log} (last lines) ---\n${d.logTail()}`;
    await d.stop().catch(() => undefined);
    throw new Error(message, { cause: err });
  }
  return d;
}

/** Top-level `/docker` in each hierarchy that existed before a dockerd of ours ran: those are left alone. */
function dockerCgroupTops(): string[] {
  return cgroupHierarchies().map((h) => join(h, 'docker')).filter((d) => existsSync(d));
}

/** A private dockerd: `docker()` talks to it, `roots` points readIdentity at its files. */
export class Dockerd extends RuntimeDaemon {
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  /** Runtime roots whose docker paths are this daemon's; the other runtimes' point at nothing. */
  readonly roots: RuntimeRoots;
  /** Containers the test made, by id (their cgroups are cleaned up if the daemon leaves them). */
  private readonly ids = new Set<string>();

  constructor(dir: string, pid: number) {
    super('dockerd', dir, pid, join(dir, 'dockerd.log'));
    this.socket = join(dir, 'docker.sock');
    this.dataRoot = join(dir, 'data');
    this.execRoot = join(dir, 'exec');
    this.roots = { ...absentRoots(dir), docker: this.dataRoot, dockerExec: this.execRoot };
  }

  /** The docker CLI against this daemon. */
  async docker(args: readonly string[], input?: Buffer | string): Promise<string> {
    return (await run('docker', ['-H', `unix://${this.socket}`, ...args], input === undefined ? {} : { input })).stdout.trim();
  }

  /** `docker run -d ARGS`: the new container's full id (its cgroup, `/docker/<id>`, is removed at stop if left). */
  async runDetached(args: readonly string[]): Promise<string> {
    const id = await this.docker(['run', '-d', ...args]);
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`docker run -d printed ${JSON.stringify(id)}, not a container id`);
    this.ids.add(id);
    return id;
  }

  /** GET /_ping on the daemon's socket: "OK" once it serves its API. */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.socket, path: '/_ping', timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.once('error', () => resolve(false));
      req.once('timeout', () => req.destroy());
      req.end();
    });
  }

  protected containerdPid(): number | undefined {
    // dockerd starts its own containerd as its child and writes its pid to <exec root>/containerd/containerd.pid
    // (moby libcontainerd/supervisor); the pid counts only while it is still dockerd's child.
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.execRoot, 'containerd', 'containerd.pid'), 'utf8').trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return procStat(pid)?.ppid === this.pid ? pid : undefined;
  }

  protected async removeContainers(): Promise<void> {
    const ids = (await this.docker(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
    for (const id of ids) this.ids.add(id);
    if (ids.length > 0) await this.docker(['rm', '-f', ...ids]);
  }

  /** Cgroups `/docker/<id>` of our containers that runc left behind (it removes them when they end). */
  removeContainerCgroups = async (): Promise<void> => {
    for (const h of cgroupHierarchies()) {
      for (const id of this.ids) await removeCgroupTree(join(h, 'docker', id));
    }
  };
}

/** Roots under `dir` where no runtime keeps anything. */
function absentRoots(dir: string): RuntimeRoots {
  const none = join(dir, 'absent');
  return {
    docker: join(none, 'docker'),
    dockerExec: join(none, 'docker-exec'),
    containerdState: join(none, 'containerd'),
    containersStorage: join(none, 'containers-storage'),
    containersRunRoot: join(none, 'containers-run'),
    podLogs: join(none, 'pods'),
  };
}

/**
 * Start a private dockerd: socket, data root, exec root and pid file under a temporary directory,
 * no iptables, no bridge, no ip_forward change (nothing of the host's network is touched),  its
 * own config file (the host's /etc/docker/daemon.json does not apply) that puts its trust key in
 * the temporary directory too (not in /etc/docker), the cgroupfs cgroup
 * driver (containers at `/docker/<id>`), its own containerd. The test image is imported as
 * DOCKER_IMAGE. The directories it makes in /run/docker and /run/containerd are removed (when
 * empty) at stop. Stop it with `stop()` in an `after` hook.
 */
export async function startDockerd(): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-dockerd-'));
  const before = new Set(dockerCgroupTops());
  const removeRunDirs = removeNewDirs(DOCKER_RUN, CONTAINERD_RUN);
  const config = join(dir, 'daemon.json');
  // dockerd 20.10 writes a trust key, by default to /etc/docker/key.json; only its config file moves it.
  writeFileSync(config, `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`);
  const args = [
    '-H', `unix://${join(dir, 'docker.sock')}`,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'),
    '--config-file', config,
    '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none',
    '--exec-opt', 'native.cgroupdriver=cgroupfs',
  ];
  const d = await startDaemon((pid) => new Dockerd(dir, pid), 'dockerd', args, join(dir, 'dockerd.log'), (x) => x.ping());
  d.cleanups.push(d.removeContainerCgroups, removeRunDirs, () => {
    for (const top of dockerCgroupTops()) if (!before.has(top)) rmdirIfEmpty(top);
  });
  try {
    await d.docker(['import', '-', DOCKER_IMAGE], await rootfsTar(dir));
  } catch (err) {
    await d.stop().catch(() => undefined);
    throw err;
  }
  return d;
}

/**
 * containerd 1.6 keeps shim sockets in /run/containerd/s, FIFOs in /run/containerd/fifo and runc's
 * state in /run/containerd/runc whatever its state directory; dockerd 20.10 keeps plugin sockets in
 * /run/docker/plugins whatever its exec root.
 */
const CONTAINERD_RUN = '/run/containerd';
const DOCKER_RUN = '/run/docker';

/** A standalone containerd: `ctr()` talks to it in namespace k8s.io, `roots` points readIdentity at its state. */
export class Containerd extends RuntimeDaemon {
  readonly socket: string;
  readonly root: string;
  readonly state: string;
  readonly roots: RuntimeRoots;
  /** The test's cgroup directories (relative to a hierarchy's root), removed in every hierarchy at stop. */
  private readonly cgroups: string[] = [];

  constructor(dir: string, pid: number) {
    super('containerd', dir, pid, join(dir, 'containerd.log'));
    this.socket = join(dir, 'containerd.sock');
    this.root = join(dir, 'root');
    this.state = join(dir, 'state');
    this.roots = { ...absentRoots(dir), containerdState: this.state };
  }

  /** ctr against this daemon, in namespace k8s.io. */
  async ctr(args: readonly string[], input?: Buffer | string): Promise<string> {
    return (await run('ctr', ['-a', this.socket, '-n', CONTAINERD_NAMESPACE, ...args], input === undefined ? {} : { input })).stdout.trim();
  }

  /**
   * A cgroup path for a container, as `ctr run --cgroup` takes it and the kernel prints it, under a
   * fresh directory of the test prefix: `/oomwatch-test/<pid>-<label>-<n>/<inner>`. runc makes it
   * (in every hierarchy); stop() removes the fresh directory's tree in each.
   */
  cgroupPath(label: string, inner: string): string {
    const top = uniqueTestName(label);
    this.cgroups.push(top);
    return `/${top}/${inner.replace(/^\/+/, '')}`;
  }

  protected containerdPid(): number {
    return this.pid;
  }

  protected async removeContainers(): Promise<void> {
    const tasks = (await this.ctr(['task', 'ls', '-q'])).split('\n').filter(Boolean);
    for (const id of tasks) await this.ctr(['task', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
    for (const id of tasks) {
      await until(`containerd task ${id} to stop`, async () => {
        await this.ctr(['task', 'delete', id]).catch(() => undefined);
        return !(await this.ctr(['task', 'ls', '-q'])).split('\n').includes(id);
      }, Boolean, { timeoutMs: STOP_TIMEOUT_MS, everyMs: 100 });
    }
    const containers = (await this.ctr(['container', 'ls', '-q'])).split('\n').filter(Boolean);
    if (containers.length > 0) await this.ctr(['container', 'delete', ...containers]);
  }

  removeCgroups = async (): Promise<void> => {
    for (const h of cgroupHierarchies()) {
      for (const top of this.cgroups) await removeCgroupTree(join(h, top));
      rmdirIfEmpty(join(h, TEST_PREFIX));
    }
  };
}

/**
 * The directories under `tops` now; the returned function removes those that were not there then
 * (deepest first, only when empty: another daemon may be using them).
 */
function removeNewDirs(...tops: string[]): () => void {
  const before = new Set(tops.flatMap(dirsUnder));
  return () => {
    for (const d of tops.flatMap(dirsUnder)) if (!before.has(d)) rmdirIfEmpty(d);
  };
}

/** Directories under `top` (and `top` itself), deepest first. */
function dirsUnder(top: string): string[] {
  if (!existsSync(top)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  walk(top);
  return out;
}

/**
 * Start a standalone containerd: root, state, socket (grpc and ttrpc) under a temporary directory,
 * the CRI plugin off (no kubelet here; the tests give the CRI plugin's annotations themselves),
 * no debug or metrics listener. The test image is imported as CONTAINERD_IMAGE in namespace k8s.io.
 * The directories it makes in /run/containerd are removed (when empty) at stop.
 */
export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-containerd-'));
  const removeRunDirs = removeNewDirs(CONTAINERD_RUN);
  const config = join(dir, 'containerd.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${join(dir, 'containerd.sock')}"`,
      '[ttrpc]',
      `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const d = await startDaemon(
    (pid) => new Containerd(dir, pid),
    'containerd',
    ['-c', config],
    join(dir, 'containerd.log'),
    async (x) => existsSync(x.socket) && (await x.ctr(['version']), true),
  );
  d.cleanups.push(d.removeCgroups, removeRunDirs);
  try {
    await d.ctr(['images', 'import', '-'], await ociArchive(dir));
  } catch (err) {
    await d.stop().catch(() => undefined);
    throw err;
  }
  return d;
}

/** A FIFO at `path` (mkfifo(1)): a container that reads it waits until the test writes to it. */
export async function makeFifo(path: string): Promise<void> {
  await run('mkfifo', ['-m', '0600', path]);
}

/** Let the container's `cat /go` finish: open the FIFO for writing (waits for its reader), write, close. */
export async function go(fifo: string): Promise<void> {
  const fh = await open(fifo, 'w');
  try {
    await fh.write('go\n');
  } finally {
    await fh.close();
  }
}

/** A random 64-hex container id, as containerd's clients make them. */
export const hex64 = (): string => randomBytes(32).toString('hex');

/**
 * What podman writes outside its root and run root whatever its configuration: the image blob
 * info cache (/var/lib/containers/cache), the network run directory (/run/containers/networks),
 * and /run/libpod (its default tmp_dir); removed at stop when they were not there before. runc keeps its state in /run/runc: directories
 * made there are removed when empty.
 */
const PODMAN_OWN_DIRS = ['/var/lib/containers', '/run/containers', '/run/libpod'];
const RUNC_RUN = '/run/runc';

/** The podman CLI with its storage, state, locks and network configuration in a temporary directory. */
export class Podman {
  readonly roots: RuntimeRoots;
  readonly graphRoot: string;
  readonly runRoot: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly cgroups: string[] = [];
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private stopped = false;

  constructor(readonly dir: string) {
    this.graphRoot = join(dir, 'root');
    this.runRoot = join(dir, 'run');
    this.roots = { ...absentRoots(dir), containersStorage: this.graphRoot, containersRunRoot: this.runRoot };
    this.env = { ...process.env, CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), CONTAINERS_CONF: join(dir, 'containers.conf') };
  }

  async podman(args: readonly string[], input?: Buffer | string): Promise<string> {
    const flags = ['--root', this.graphRoot, '--runroot', this.runRoot, '--tmpdir', join(this.dir, 'tmp'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
    // conmon, started by podman, writes a file `oom` into its working directory when its container
    // is OOM-killed: podman runs in the temporary directory, so that is where it goes.
    const opts = { env: this.env, cwd: this.dir };
    return (await run('podman', [...flags, ...args], input === undefined ? opts : { ...opts, input })).stdout.trim();
  }

  /**
   * A fresh `--cgroup-parent` under the test prefix: `/oomwatch-test/<pid>-<label>-<n>`. Podman's
   * cgroupfs manager puts each container in `<parent>/libpod-<id>` and its conmon in
   * `<parent>/conmon`, in every hierarchy; stop() removes the parent's tree in each.
   */
  cgroupParent(label: string): string {
    const top = uniqueTestName(label);
    this.cgroups.push(top);
    return `/${top}`;
  }

  /**
   * `podman run -d ARGS`: the new container's full id. Podman asks runc for RLIMIT_NOFILE 1048576 and
   * an RLIMIT_NPROC above its own; raising a hard limit needs CAP_SYS_RESOURCE, which root may lack
   * in a sandbox (runc: `error setting rlimits for ready process: ... operation not permitted`), so
   * the limits are set at 1024, which needs no capability.
   */
  async runDetached(args: readonly string[]): Promise<string> {
    const id = await this.podman(['run', '-d', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', ...args]);
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`podman run -d printed ${JSON.stringify(id)}, not a container id`);
    return id;
  }

  /** The conmon pids of the containers there now (their `userdata/conmon.pid`). */
  private conmonPids(): number[] {
    const dir = join(this.runRoot, 'overlay-containers');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((id) => {
      try {
        const pid = Number(readFileSync(join(dir, id, 'userdata', 'conmon.pid'), 'utf8').trim());
        return Number.isSafeInteger(pid) && pid > 0 ? [pid] : [];
      } catch {
        return [];
      }
    });
  }

  /** Remove every container, stop conmons left, unmount, remove the cgroups, the directories made, the temporary directory. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { step, done } = cleanupSteps();
    const conmons = this.conmonPids();
    await step(async () => void (await this.podman(['rm', '-f', '-t', '0', '-a'])));
    // A conmon is its own session leader: a pid whose session is itself is still that conmon.
    for (const pid of conmons) if (procStat(pid)?.session === pid && alive(pid)) await step(() => stopPid(pid, 'conmon'));
    await step(() => unmountUnder(this.dir));
    await step(async () => {
      for (const h of cgroupHierarchies()) {
        for (const top of this.cgroups) await removeCgroupTree(join(h, top));
        rmdirIfEmpty(join(h, TEST_PREFIX));
      }
    });
    for (const fn of this.cleanups.reverse()) await step(fn);
    await step(() => rmSync(this.dir, { recursive: true, force: true }));
    done(`stopping podman (${this.dir})`);
  }

  /** Set up the directory and import the test image; on failure, clean up and throw. */
  async init(): Promise<void> {
    const absent = PODMAN_OWN_DIRS.filter((d) => !existsSync(d));
    this.cleanups.push(removeNewDirs(RUNC_RUN), () => {
      for (const d of absent) rmSync(d, { recursive: true, force: true });
    });
    for (const d of ['root', 'run', 'tmp']) mkdirSync(join(this.dir, d));
    writeFileSync(
      join(this.dir, 'storage.conf'),
      ['[storage]', 'driver = "overlay"', `graphroot = "${this.graphRoot}"`, `runroot = "${this.runRoot}"`, ''].join('\n'),
    );
    // File locks (not the shared /dev/shm/libpod_lock), events and network configuration in the directory too.
    writeFileSync(
      join(this.dir, 'containers.conf'),
      [
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${join(this.dir, 'events.log')}"`,
        `tmp_dir = "${join(this.dir, 'tmp')}"`,
        'lock_type = "file"',
        '[network]',
        `network_config_dir = "${join(this.dir, 'networks')}"`,
        '',
      ].join('\n'),
    );
    try {
      await this.podman(['import', '-', DOCKER_IMAGE], await rootfsTar(this.dir));
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }
}

/** The name podman gives the imported test image (an unqualified name gets `localhost/`). */
export const PODMAN_IMAGE = `localhost/${DOCKER_IMAGE}`;

/** Podman with everything in a temporary directory and the test image imported as PODMAN_IMAGE. Stop it in an `after` hook. */
export async function startPodman(): Promise<Podman> {
  const p = new Podman(mkdtempSync(join(tmpdir(), 'oomwatch-podman-')));
  await p.init();
  return p;
}
