import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OomwatchError, UsageError, isErrno } from '../errors.js';
import type { LimitsSpec } from '../cgroup/limits.js';
import { cgroupPath } from '../cgroup/name.js';
import { parseSize } from '../cgroup/size.js';
import { runtimeRootsUnder, type RuntimeRoots } from '../runtime/roots.js';
import { parseDuration } from './duration.js';
import { DEFAULT_RECENT_KILLS, type RecentKillsBound } from './recentKills.js';

/** The early warner's settings (earlyWarning.ts), from the `warn:` section. */
export interface EarlyWarnConfig {
  /** Warn when the trend reaches the limit within this many seconds. */
  readonly horizonS: number;
  /** The prediction clears past horizonS × (1 + hysteresis). */
  readonly hysteresis: number;
  /** The trend's window (seconds). */
  readonly trendWindowS: number;
  /** How often a cgroup in danger is sampled between polls (ms; 0: only at the poll). */
  readonly fastPollMs: number;
  readonly pressure: { readonly kind: 'some' | 'full'; readonly avg10: number; readonly forS: number };
  readonly limitReclaim: { readonly perSecond: number; readonly forS: number; readonly unreclaimableRatio: number };
}

export const DEFAULT_EARLY_WARN: EarlyWarnConfig = Object.freeze<EarlyWarnConfig>({
  horizonS: 30,
  hysteresis: 0.5,
  trendWindowS: 10,
  fastPollMs: 100,
  pressure: { kind: 'some', avg10: 20, forS: 10 },
  limitReclaim: { perSecond: 1, forS: 10, unreclaimableRatio: 0.5 },
});

/** Hooks (hooks.ts), the `hooks:` section. */
export type HookKind = 'warning' | 'kill';

export interface HookSpec {
  readonly argv: readonly [string, ...string[]];
  readonly timeoutMs: number;
}

export interface HooksConfig {
  readonly warning: HookSpec | null;
  readonly kill: HookSpec | null;
  readonly maxConcurrent: number;
  readonly maxQueued: number;
}

export const DEFAULT_HOOKS: HooksConfig = Object.freeze({ warning: null, kill: null, maxConcurrent: 4, maxQueued: 64 });

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
  /** The early warnings (horizon, trend window, pressure and reclaim rules), from the same `warn:` section. */
  readonly early: EarlyWarnConfig;
  /** Commands run on a warning and on a kill. */
  readonly hooks: HooksConfig;
  /** Follow /dev/kmsg for OOM reports (off: kernel counters only). */
  readonly kmsg: boolean;
  /** Where the container runtimes' files are read: the default directories below `hostRoot`, or each as given. */
  readonly runtimes: RuntimesConfig;
  /** How many kills `<state_dir>/kills.jsonl` keeps (`oomwatch kills`), and for how long. */
  readonly recentKills: RecentKillsBound;
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
  early: DEFAULT_EARLY_WARN,
  hooks: DEFAULT_HOOKS,
  kmsg: true,
  runtimes: { hostRoot: '/', roots: {} },
  recentKills: DEFAULT_RECENT_KILLS,
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

const TOP_KEYS = ['listen', 'poll_interval', 'state_dir', 'log_level', 'cgroups', 'watch', 'warn', 'kmsg', 'runtimes', 'hooks', 'recent_kills'] as const;
const WARN_KEYS = ['working_set_ratio', 'hysteresis', 'horizon', 'prediction_hysteresis', 'trend_window', 'fast_poll_interval', 'pressure', 'limit_reclaim'] as const;
const HOOK_KEYS = ['warning', 'kill', 'max_concurrent', 'max_queued'] as const;
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

  let { listen, pollIntervalMs, stateDir, logLevel, cgroups, watch, warn, early, hooks, kmsg, runtimes, recentKills } = base;
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
  const mapping = (path: string, v: unknown, keys: readonly string[]): Obj => {
    if (!isObj(v)) return fail(path, `expected a mapping with ${keys.join(', ')}`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${path}.${k}`, `unknown setting; known: ${keys.join(', ')}`);
    return v;
  };
  const number = (path: string, v: unknown, lo: number, hi: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !(v > lo && v <= hi)) return fail(path, `expected a number in (${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v;
  };
  const duration = (path: string, v: unknown, dflt: number): number => (v === undefined ? dflt : wrap(path, () => parseDuration(str(path, v))));
  if (raw['warn'] !== undefined) {
    const w = mapping('warn', raw['warn'], WARN_KEYS);
    warn = { workingSetRatio: number('warn.working_set_ratio', w['working_set_ratio'], 0, 1, warn.workingSetRatio), hysteresis: number('warn.hysteresis', w['hysteresis'], 0, 1, warn.hysteresis) };
    const p = w['pressure'] === undefined ? {} : mapping('warn.pressure', w['pressure'], ['kind', 'avg10', 'for']);
    const kind = p['kind'] === undefined ? early.pressure.kind : str('warn.pressure.kind', p['kind']);
    if (kind !== 'some' && kind !== 'full') fail('warn.pressure.kind', `${JSON.stringify(kind)} is not some or full`);
    const r = w['limit_reclaim'] === undefined ? {} : mapping('warn.limit_reclaim', w['limit_reclaim'], ['per_second', 'for', 'unreclaimable_ratio']);
    const fast = w['fast_poll_interval'];
    early = {
      horizonS: duration('warn.horizon', w['horizon'], early.horizonS * 1000) / 1000,
      hysteresis: number('warn.prediction_hysteresis', w['prediction_hysteresis'], 0, 10, early.hysteresis),
      trendWindowS: duration('warn.trend_window', w['trend_window'], early.trendWindowS * 1000) / 1000,
      // 0 (the number or "0s") turns the faster sampling of cgroups in danger off.
      fastPollMs: fast === 0 || fast === '0s' ? 0 : duration('warn.fast_poll_interval', fast, early.fastPollMs),
      pressure: { kind: kind as 'some' | 'full', avg10: number('warn.pressure.avg10', p['avg10'], 0, 100, early.pressure.avg10), forS: duration('warn.pressure.for', p['for'], early.pressure.forS * 1000) / 1000 },
      limitReclaim: {
        perSecond: number('warn.limit_reclaim.per_second', r['per_second'], 0, 1e9, early.limitReclaim.perSecond),
        forS: duration('warn.limit_reclaim.for', r['for'], early.limitReclaim.forS * 1000) / 1000,
        unreclaimableRatio: number('warn.limit_reclaim.unreclaimable_ratio', r['unreclaimable_ratio'], 0, 1, early.limitReclaim.unreclaimableRatio),
      },
    };
    if (early.trendWindowS < 1) fail('warn.trend_window', 'must be at least 1s (the trend needs samples spanning 1 s)');
  }
  if (raw['hooks'] !== undefined) {
    const h = mapping('hooks', raw['hooks'], HOOK_KEYS);
    const spec = (k: 'warning' | 'kill'): HookSpec | null => {
      const v = h[k];
      if (v === undefined) return hooks[k];
      if (v === null) return null;
      const m = mapping(`hooks.${k}`, v, ['argv', 'timeout']);
      const argv = strList(`hooks.${k}.argv`, m['argv']);
      if (argv.length === 0 || argv[0] === '') return fail(`hooks.${k}.argv`, 'expected the command and its arguments, e.g. [/usr/local/bin/page, --team, infra]');
      return { argv: argv as [string, ...string[]], timeoutMs: duration(`hooks.${k}.timeout`, m['timeout'], 10_000) };
    };
    const int = (k: string, dflt: number): number => {
      const v = h[k];
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < (k === 'max_queued' ? 0 : 1)) return fail(`hooks.${k}`, `expected a whole number${k === 'max_queued' ? '' : ' ≥ 1'}, got ${JSON.stringify(v)}`);
      return v;
    };
    hooks = { warning: spec('warning'), kill: spec('kill'), maxConcurrent: int('max_concurrent', hooks.maxConcurrent), maxQueued: int('max_queued', hooks.maxQueued) };
  }
  if (raw['recent_kills'] !== undefined) {
    const r = mapping('recent_kills', raw['recent_kills'], ['keep', 'max_age']);
    const keep = r['keep'];
    if (keep !== undefined && (typeof keep !== 'number' || !Number.isSafeInteger(keep) || keep < 1)) fail('recent_kills.keep', `expected a whole number ≥ 1, got ${JSON.stringify(keep)}`);
    const age = r['max_age'];
    recentKills = {
      keep: (keep as number | undefined) ?? recentKills.keep,
      maxAgeMs: age === undefined ? recentKills.maxAgeMs : wrap('recent_kills.max_age', () => parseDuration(str('recent_kills.max_age', age), 'max_age', { days: true })),
    };
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
  return { listen, pollIntervalMs, stateDir, logLevel, cgroups, watch, warn, early, hooks, kmsg, runtimes, recentKills };
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
