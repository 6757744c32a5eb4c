import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OomwatchError, UsageError, isErrno } from '../errors.js';
import type { LimitsSpec } from '../cgroup/limits.js';
import { cgroupPath } from '../cgroup/name.js';
import { parseSize } from '../cgroup/size.js';
import { runtimeRootsUnder, type RuntimeRoots } from '../runtime/roots.js';
import { parseDuration } from './duration.js';

/** A cgroup the daemon owns: created and configured at start and on every config change. */
export interface DeclaredCgroup {
  /** Kernel form, `/batch/worker-1`. */
  readonly path: string;
  readonly limits: LimitsSpec;
}

export interface DaemonConfig {
  /** host:port; `:9742` or `0.0.0.0:9742` listens on every address. */
  readonly listen: { host: string; port: number };
  readonly pollIntervalMs: number;
  readonly stateDir: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly cgroups: readonly DeclaredCgroup[];
  readonly watch: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  /** Log a warning when working set / limit crosses `ratio`; re-arm below `ratio - hysteresis`. */
  readonly warn: { readonly workingSetRatio: number; readonly hysteresis: number };
  /** Follow /dev/kmsg for OOM reports (off: kernel counters only). */
  readonly kmsg: boolean;
  /** Where the container runtimes' files are read: the default directories below `hostRoot`, or each as given. */
  readonly runtimes: RuntimesConfig;
}

export interface RuntimesConfig {
  /** Where the host's / is (a DaemonSet that mounts it at /host: `/host`). */
  readonly hostRoot: string;
  /** A runtime directory given explicitly, used as it is (not below hostRoot). */
  readonly roots: Partial<RuntimeRoots>;
}

/** The `runtimes:` keys for each root (runtime/roots.ts says what each holds). */
export const RUNTIME_ROOT_KEYS = {
  docker: 'docker',
  docker_exec: 'dockerExec',
  containerd_state: 'containerdState',
  containers_storage: 'containersStorage',
  containers_run_root: 'containersRunRoot',
  pod_logs: 'podLogs',
} as const satisfies Record<string, keyof RuntimeRoots>;

/** The runtime roots a config names. */
export function runtimeRootsOf(r: RuntimesConfig): RuntimeRoots {
  return { ...runtimeRootsUnder(r.hostRoot), ...r.roots };
}

/** The embedded defaults: `oomwatch daemon` with no arguments runs on these. */
export const DEFAULT_CONFIG: DaemonConfig = Object.freeze({
  listen: { host: '127.0.0.1', port: 9742 },
  pollIntervalMs: 1000,
  stateDir: '/var/lib/oomwatch',
  logLevel: 'info',
  cgroups: [],
  watch: { include: ['/**'], exclude: [] },
  warn: { workingSetRatio: 0.9, hysteresis: 0.05 },
  kmsg: true,
  runtimes: { hostRoot: '/', roots: {} },
});

/** A config that is there but wrong: names the file, the key path and what is wrong (exit 2). */
export class ConfigError extends OomwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ECONFIG', message, { ...options, exitCode: 2 });
  }
}

export function parseListen(text: string, what = 'listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) throw new UsageError(`${what}: ${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9742, :9742, [::1]:9742)`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const TOP_KEYS = ['listen', 'poll_interval', 'state_dir', 'log_level', 'cgroups', 'watch', 'warn', 'kmsg', 'runtimes'] as const;
const CGROUP_KEYS = ['name', 'memory', 'memory_high', 'memory_low', 'swap', 'oom_group', 'oom_kill'] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Validate a parsed config document against the defaults. Pure. Every error names `source`,
 * the key path (`cgroups[1].memory`) and what is wrong.
 */
export function validateConfig(raw: unknown, source: string, base: DaemonConfig = DEFAULT_CONFIG): DaemonConfig {
  const fail = (path: string, what: string): never => {
    throw new ConfigError(`${source}: ${path}: ${what}`);
  };
  const wrap = <T>(path: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if (err instanceof OomwatchError) return fail(path, err.message.replace(/^[^:]*: /, ''));
      throw err;
    }
  };
  if (raw === null || raw === undefined) return base;
  if (!isObj(raw)) return fail('(top level)', 'expected a mapping of settings');
  for (const k of Object.keys(raw)) {
    if (!(TOP_KEYS as readonly string[]).includes(k)) fail(k, `unknown setting; known: ${TOP_KEYS.join(', ')}`);
  }
  const str = (path: string, v: unknown): string => (typeof v === 'string' ? v : fail(path, `expected a string, got ${JSON.stringify(v)}`));
  const strList = (path: string, v: unknown): string[] =>
    Array.isArray(v) ? v.map((x, i) => str(`${path}[${i}]`, x)) : fail(path, 'expected a list of strings');

  let { listen, pollIntervalMs, stateDir, logLevel, cgroups, watch, warn, kmsg, runtimes } = base;
  if (raw['listen'] !== undefined) listen = wrap('listen', () => parseListen(str('listen', raw['listen'])));
  if (raw['poll_interval'] !== undefined) pollIntervalMs = wrap('poll_interval', () => parseDuration(str('poll_interval', raw['poll_interval'])));
  if (raw['state_dir'] !== undefined) stateDir = str('state_dir', raw['state_dir']);
  if (raw['log_level'] !== undefined) {
    const l = str('log_level', raw['log_level']);
    if (!['trace', 'debug', 'info', 'warn', 'error'].includes(l)) fail('log_level', `${JSON.stringify(l)} is not one of trace, debug, info, warn, error`);
    logLevel = l as DaemonConfig['logLevel'];
  }
  if (raw['kmsg'] !== undefined) {
    if (typeof raw['kmsg'] !== 'boolean') fail('kmsg', 'expected true or false');
    kmsg = raw['kmsg'] as boolean;
  }
  if (raw['watch'] !== undefined) {
    const w = raw['watch'];
    if (!isObj(w)) return fail('watch', 'expected a mapping with include and exclude');
    for (const k of Object.keys(w)) if (k !== 'include' && k !== 'exclude') fail(`watch.${k}`, 'unknown setting; known: include, exclude');
    watch = {
      include: w['include'] === undefined ? watch.include : strList('watch.include', w['include']),
      exclude: w['exclude'] === undefined ? watch.exclude : strList('watch.exclude', w['exclude']),
    };
  }
  if (raw['runtimes'] !== undefined) {
    const r = raw['runtimes'];
    if (!isObj(r)) return fail('runtimes', 'expected a mapping with host_root and runtime directories');
    const known = ['host_root', ...Object.keys(RUNTIME_ROOT_KEYS)];
    for (const k of Object.keys(r)) if (!known.includes(k)) fail(`runtimes.${k}`, `unknown setting; known: ${known.join(', ')}`);
    const abs = (k: string): string | undefined => {
      if (r[k] === undefined) return undefined;
      const v = str(`runtimes.${k}`, r[k]);
      return v.startsWith('/') ? v : fail(`runtimes.${k}`, `expected an absolute path, got ${JSON.stringify(v)}`);
    };
    const roots: Partial<Record<keyof RuntimeRoots, string>> = { ...runtimes.roots };
    for (const [k, field] of Object.entries(RUNTIME_ROOT_KEYS)) {
      const v = abs(k);
      if (v !== undefined) roots[field] = v;
    }
    runtimes = { hostRoot: abs('host_root') ?? runtimes.hostRoot, roots };
  }
  if (raw['warn'] !== undefined) {
    const w = raw['warn'];
    if (!isObj(w)) return fail('warn', 'expected a mapping with working_set_ratio and hysteresis');
    const num = (k: string, lo: number, hi: number, dflt: number) => {
      const v = w[k];
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !(v > lo && v <= hi)) return fail(`warn.${k}`, `expected a number in (${lo}, ${hi}], got ${JSON.stringify(v)}`);
      return v;
    };
    for (const k of Object.keys(w)) if (k !== 'working_set_ratio' && k !== 'hysteresis') fail(`warn.${k}`, 'unknown setting; known: working_set_ratio, hysteresis');
    warn = { workingSetRatio: num('working_set_ratio', 0, 1, warn.workingSetRatio), hysteresis: num('hysteresis', 0, 1, warn.hysteresis) };
  }
  if (raw['cgroups'] !== undefined) {
    const list = raw['cgroups'];
    if (!Array.isArray(list)) return fail('cgroups', 'expected a list of {name, memory, ...}');
    const seen = new Set<string>();
    cgroups = list.map((c: unknown, i: number): DeclaredCgroup => {
      const at = `cgroups[${i}]`;
      if (!isObj(c)) return fail(at, 'expected a mapping with at least name');
      for (const k of Object.keys(c)) {
        if (!(CGROUP_KEYS as readonly string[]).includes(k)) fail(`${at}.${k}`, `unknown setting; known: ${CGROUP_KEYS.join(', ')}`);
      }
      const path = wrap(`${at}.name`, () => cgroupPath(str(`${at}.name`, c['name'])));
      if (seen.has(path)) fail(`${at}.name`, `${path} is declared twice`);
      seen.add(path);
      const size = (k: string) => {
        const v = c[k];
        if (v === undefined) return undefined;
        if (typeof v === 'number') return wrap(`${at}.${k}`, () => parseSize(String(v), k));
        return wrap(`${at}.${k}`, () => parseSize(str(`${at}.${k}`, v), k));
      };
      const bool = (k: string) => {
        const v = c[k];
        if (v === undefined || typeof v === 'boolean') return v;
        return fail(`${at}.${k}`, `expected true or false, got ${JSON.stringify(v)}`);
      };
      const limits: LimitsSpec = {};
      const memory = size('memory');
      const memoryHigh = size('memory_high');
      const memoryLow = size('memory_low');
      const swap = size('swap');
      const oomGroup = bool('oom_group');
      const oomKill = bool('oom_kill');
      if (memory !== undefined) limits.memory = memory;
      if (memoryHigh !== undefined) limits.memoryHigh = memoryHigh;
      if (memoryLow !== undefined) limits.memoryLow = memoryLow;
      if (swap !== undefined) limits.swap = swap;
      if (oomGroup !== undefined) limits.oomGroup = oomGroup;
      if (oomKill !== undefined) limits.oomKill = oomKill;
      return { path, limits };
    });
  }
  if (warn.hysteresis >= warn.workingSetRatio) fail('warn.hysteresis', 'must be smaller than warn.working_set_ratio');
  return { listen, pollIntervalMs, stateDir, logLevel, cgroups, watch, warn, kmsg, runtimes };
}

/**
 * How many alias expansions a config may make, counted the way the yaml package counts them (each
 * use of an anchor, times the aliases nested inside it). Nine anchors of nine aliases each (a
 * "billion laughs") would stand for 9^9 values, and printing one of them in an error message would
 * exhaust the heap; a config that shares one block of limits among many cgroups stays far below.
 */
export const MAX_ALIAS_COUNT = 1000;

/**
 * The yaml package, loaded when a config is first parsed: only `daemon --config` needs it, and
 * importing it at the top made every CLI start load its ≈ 70 modules.
 */
let yamlModule: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
}

/** Parse a config file's text (YAML; JSON is YAML too). Pure. */
export function parseConfig(text: string, source: string, base?: DaemonConfig): DaemonConfig {
  const doc = yaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e?.linePos?.[0];
    throw new ConfigError(`${source}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e?.message.split('\n')[0] ?? 'unknown error'}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError when an alias cannot be resolved or expands too far.
    if (!(err instanceof ReferenceError)) throw err;
    throw new ConfigError(
      `${source}: YAML aliases (*name) expand too far or cannot be resolved (at most ${MAX_ALIAS_COUNT} expansions): ${err.message}; write the values out or use fewer aliases`,
      { cause: err },
    );
  }
  return validateConfig(raw, source, base);
}

export function loadConfig(file: string, base?: DaemonConfig): DaemonConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ConfigError(`${file}: config file not found`, { cause: err });
    throw new ConfigError(`${file}: cannot read the config: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, file, base);
}
