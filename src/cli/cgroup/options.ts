import { InvalidArgumentError, Option, type Command } from 'commander';
import type { LimitsSpec } from '../../cgroup/limits.js';
import { cgroupPath } from '../../cgroup/name.js';
import { parseSize } from '../../cgroup/size.js';
import { openMemoryBackend } from '../../cgroup/open.js';
import type { MemoryBackend } from '../../cgroup/backend.js';
import { rootsOf } from '../common.js';

/** The limit flags commander parsed (the spec's fields), plus --parent. */
export interface LimitOptions extends LimitsSpec {
  parent?: string;
}

const size = (flag: string) => (v: string) => {
  try {
    return parseSize(v, flag);
  } catch (err) {
    // commander reports this as a usage error (exit 2) naming the option and the value.
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
};

export function addParentOption(cmd: Command): Command {
  return cmd.option('--parent <path>', 'NAME is relative to this cgroup instead of the hierarchy root (e.g. a delegated subtree)');
}

/** `--host-root`: where the runtimes' files are read to name a container's cgroup (cgroup ls, show). */
export function addHostRootOption(cmd: Command): Command {
  return cmd.option('--host-root <dir>', "where the host's / is: the container runtimes' files are read below it to name containers (default /)");
}

export function addLimitOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--memory <size>', 'hard limit: v1 memory.limit_in_bytes, v2 memory.max').argParser(size('--memory')))
    .addOption(new Option('--memory-high <size>', 'throttle point: v2 memory.high (not on v1)').argParser(size('--memory-high')))
    .addOption(
      new Option('--memory-low <size>', 'protection: v2 memory.low; v1 memory.soft_limit_in_bytes (the nearest, not equal)').argParser(
        size('--memory-low'),
      ),
    )
    .addOption(
      new Option('--swap <size>', 'swap only: v2 memory.swap.max; v1 memory.memsw.limit_in_bytes = memory + swap').argParser(size('--swap')),
    )
    .option('--oom-group', 'v2 memory.oom.group=1: an OOM kills the whole cgroup (not on v1)')
    .option('--no-oom-group', 'v2 memory.oom.group=0')
    .option('--no-oom-kill', 'v1 memory.oom_control oom_kill_disable=1: tasks wait instead of being killed (not on v2)');
}

/** Only the flags the user gave: commander's defaults for --no-* flags are not requests. */
export function specFrom(opts: LimitOptions, cmd: Command): LimitsSpec {
  const given = (key: keyof LimitOptions) => cmd.getOptionValueSource(key) === 'cli';
  const spec: LimitsSpec = {};
  if (opts.memory !== undefined) spec.memory = opts.memory;
  if (opts.memoryHigh !== undefined) spec.memoryHigh = opts.memoryHigh;
  if (opts.memoryLow !== undefined) spec.memoryLow = opts.memoryLow;
  if (opts.swap !== undefined) spec.swap = opts.swap;
  if (given('oomGroup') && opts.oomGroup !== undefined) spec.oomGroup = opts.oomGroup;
  if (given('oomKill') && opts.oomKill !== undefined) spec.oomKill = opts.oomKill;
  return spec;
}

export const SIZES_HELP = `
Sizes: bytes, or a number with K, M, G, T (binary: 64M = 64 MiB; Ki/Mi/Gi also accepted), or max.
NAME is a path relative to the memory hierarchy's root, e.g. batch/worker-1 (a leading / is fine).`;

/** The backend and the canonical cgroup path for a command's NAME argument. */
export function target(name: string, opts: { parent?: string }, cmd: Command, allowRoot = false): { backend: MemoryBackend; path: string } {
  const path = cgroupPath(name, { ...(opts.parent === undefined ? {} : { parent: opts.parent }), allowRoot });
  return { backend: openMemoryBackend(rootsOf(cmd)), path };
}
