import { setFlagsFromString } from 'node:v8';
import { InvalidArgumentError, type Command } from 'commander';
import { OomwatchError } from '../errors.js';
import { DEFAULT_CONFIG, loadConfig, parseListen, type DaemonConfig } from '../daemon/config.js';
import { parseDuration } from '../daemon/duration.js';
import { action, rootsOf } from './common.js';

interface DaemonFlags {
  config?: string;
  listen?: { host: string; port: number };
  stateDir?: string;
  pollInterval?: number;
  logLevel?: DaemonConfig['logLevel'];
  kmsg?: boolean;
  hostRoot?: string;
}

const arg =
  <T>(f: (v: string) => T) =>
  (v: string): T => {
    try {
      return f(v);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };

/** Defaults, then the config file, then flags: each layer overrides the one before. */
export function resolveConfig(flags: DaemonFlags, cmd: Command): DaemonConfig {
  const base = flags.config === undefined ? DEFAULT_CONFIG : loadConfig(flags.config);
  return withFlags(base, flags, cmd);
}

function withFlags(base: DaemonConfig, flags: DaemonFlags, cmd: Command): DaemonConfig {
  return {
    ...base,
    ...(flags.listen === undefined ? {} : { listen: flags.listen }),
    ...(flags.stateDir === undefined ? {} : { stateDir: flags.stateDir }),
    ...(flags.pollInterval === undefined ? {} : { pollIntervalMs: flags.pollInterval }),
    ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
    ...(cmd.getOptionValueSource('kmsg') === 'cli' ? { kmsg: flags.kmsg !== false } : {}),
    ...(flags.hostRoot === undefined ? {} : { runtimes: { ...base.runtimes, hostRoot: flags.hostRoot } }),
  };
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('run the watcher: declared cgroups, memory polling, OOM kills from the kernel log, /metrics and /healthz')
    .option('--config <file>', 'YAML (or JSON) config file; reloaded when it changes or on SIGHUP')
    .option('--listen <host:port>', `where to serve /metrics and /healthz (default ${DEFAULT_CONFIG.listen.host}:${DEFAULT_CONFIG.listen.port}; :9742 for every address)`, arg((v) => parseListen(v, '--listen')))
    .option('--state-dir <dir>', `where the kernel log cursor and the record of the last kills (oomwatch kills) are kept across restarts (default ${DEFAULT_CONFIG.stateDir})`)
    .option('--poll-interval <duration>', 'how often cgroup memory files are read, e.g. 1s, 250ms (default 1s)', arg((v) => parseDuration(v, '--poll-interval')))
    .option('--log-level <level>', 'trace, debug, info, warn or error (default info)', arg((v) => {
      if (!['trace', 'debug', 'info', 'warn', 'error'].includes(v)) throw new Error(`--log-level: ${JSON.stringify(v)} is not one of trace, debug, info, warn, error`);
      return v;
    }))
    .option('--host-root <dir>', "where the host's / is mounted, e.g. /host in a DaemonSet: the container runtimes' files are read below it (default /)")
    .option('--no-kmsg', 'do not read /dev/kmsg (kills are then counted from cgroup counters only, without names)')
    .addHelpText(
      'after',
      `
Runs on embedded defaults with no arguments; flags override the config file, which overrides
the defaults. Logs one JSON object per line on stdout (pino): every OOM kill with the victim's
pid, name, cgroup and owner (unit, container, pod), the container's names (namespace, pod,
container, image, container_name, read from the runtime's files: docker, containerd, CRI-O,
podman, /var/log/pods), which limit fired (limit: container, pod, node, ancestor, own, none),
whether the victim was the container's init process (main_process), the limit of the cgroup
that fired and the victim cgroup's usage/peak, boot id, when it happened (kill_time: the
kernel's timestamp on the wall clock, RFC 3339 UTC) and when it was logged (wall_time;
detected_mono_us is CLOCK_MONOTONIC in µs, to compare with kernel_time_us).
Run it as root: /dev/kmsg needs CAP_SYSLOG and declared cgroups need write access to cgroupfs.
Without them it still polls what it can read and says what is off in /healthz and in
oomwatch_kmsg_up.

Config file (every key optional):
  listen: 127.0.0.1:9742
  poll_interval: 1s
  state_dir: /var/lib/oomwatch
  recent_kills: {keep: 1000, max_age: 30d}   # kills.jsonl there: oomwatch kills
  log_level: info
  kmsg: true
  watch: {include: ["/**"], exclude: ["/system.slice/*.mount"]}
  warn: {working_set_ratio: 0.9, hysteresis: 0.05}
  cgroups:
    - {name: batch/worker-1, memory: 64M, memory_low: 16M}
  runtimes:                 # the runtimes' directories, below host_root unless given
    host_root: /            # --host-root; a DaemonSet mounting the host at /host: /host
    docker: /var/lib/docker
    docker_exec: /run/docker
    containerd_state: /run/containerd
    containers_storage: /var/lib/containers/storage
    containers_run_root: /run/containers/storage
    pod_logs: /var/log/pods

Signals: SIGHUP reloads the config; SIGTERM/SIGINT save the cursor and exit 0.

Examples:
  sudo oomwatch daemon
  sudo oomwatch daemon --config /etc/oomwatch/config.yml --listen :9742`,
    )
    .action(
      action(async (flags: DaemonFlags, cmd: Command) => {
        const config = resolveConfig(flags, cmd);
        // V8 favours memory over speed from here on (a smaller young generation and heap growth,
        // leaner optimized code): at 10,000 cgroups on Node 24 the daemon holds ≈ 138 MB instead of
        // ≈ 155, with no change seen in its CPU or detection latency (bench/README.md). Set at run
        // time, so only the daemon has it: `parse` wants the speed.
        setFlagsFromString('--optimize-for-size');
        // Loaded here, not at the top: prom-client, pino and chokidar are most of what every other
        // subcommand would otherwise load at each start (≈ 100 ms of 190 here, seconds in the VM).
        const [{ pino }, { Daemon }, { watch }] = await Promise.all([
          import('pino'),
          import('../daemon/daemon.js'),
          import('chokidar'),
        ]);
        const logger = pino({ level: config.logLevel, base: { service: 'oomwatch' } });
        const daemon = new Daemon({ config, roots: rootsOf(cmd), logger });
        const reload = (why: string) => {
          if (flags.config === undefined) {
            logger.info({ event: 'config_reload_skipped' }, `${why}: no --config file to reload`);
            return;
          }
          try {
            daemon.reload(withFlags(loadConfig(flags.config), flags, cmd));
          } catch (err) {
            const msg = err instanceof OomwatchError ? err.message : String(err);
            logger.error({ event: 'config_rejected', err: msg }, `${why}: new config rejected, keeping the running one: ${msg}`);
          }
        };
        let stopping: Promise<void> | null = null;
        const stop = (sig: string) => {
          stopping ??= (async () => {
            logger.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
            const force = setTimeout(() => process.exit(0), 900);
            try {
              await daemon.stop();
            } finally {
              clearTimeout(force);
              logger.flush();
            }
          })();
          return stopping;
        };
        // The config file is watched before the daemon starts, so a change made as soon as it
        // serves is not missed; changes seen during the start are applied right after it.
        let started = false;
        let pending: string | null = null;
        const onChange = (why: string) => {
          if (started) reload(why);
          else pending = why;
        };
        const watcher = flags.config === undefined ? null : watch(flags.config, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
        watcher?.on('change', () => onChange('config file changed'));
        watcher?.on('add', () => onChange('config file replaced'));
        if (watcher !== null) await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
        process.on('SIGHUP', () => onChange('SIGHUP'));
        const stopped = new Promise<void>((resolve) => {
          for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void stop(sig).then(resolve));
        });
        try {
          await daemon.start();
        } catch (err) {
          // Refused (the address in use, the state directory held) or failed part-way: undo
          // what started, so that the process exits now with the error's code.
          await daemon.stop();
          await watcher?.close();
          throw err;
        }
        started = true;
        if (pending !== null) reload(pending);
        await stopped;
        await watcher?.close();
        return 0;
      }),
    );
}
