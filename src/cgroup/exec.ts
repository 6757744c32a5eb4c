import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import type { Writable } from 'node:stream';
import { CommandNotFoundError, UsageError, isErrno } from '../errors.js';
import type { MemoryBackend } from './backend.js';
import { createWithLimits, removeCreated } from './create.js';
import type { LimitsSpec } from './limits.js';

export interface ExecResult {
  /** The exit status oomwatch should exit with: the child's code, or 128 + signal number. */
  status: number;
  signal: NodeJS.Signals | null;
  pid: number;
  /** Kills the kernel counted in the cgroup while the command ran (v1 oom_control / v2 memory.events oom_kill). */
  oomKills: number;
  /** True when the command itself died of SIGKILL and the cgroup's oom_kill counter rose meanwhile. */
  killedByOom: boolean;
}

/**
 * Find the file `command` names, as execvp(3) and the shell do: a name with a slash is a path,
 * any other is looked for in each directory of `searchPath` (PATH; an empty entry is the current
 * directory). Throws CommandNotFoundError with the shell's statuses: 127 when there is no such
 * file, 126 when there is one but it is not an executable file.
 */
export function resolveCommand(command: string, searchPath: string): string {
  const candidates = command.includes('/') ? [command] : searchPath.split(':').map((d) => join(d === '' ? '.' : d, command));
  let notExecutable: string | undefined;
  for (const file of candidates) {
    if (command === '') break;
    try {
      if (statSync(file).isFile()) {
        accessSync(file, fsConstants.X_OK);
        return file;
      }
      notExecutable ??= file;
    } catch (err) {
      if (isErrno(err, 'EACCES', 'EPERM')) notExecutable ??= file;
      else if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
  }
  if (notExecutable !== undefined) {
    throw new CommandNotFoundError(command, 126, `cgroup exec: ${command}: permission denied (${notExecutable} is not an executable file)`);
  }
  const where = command.includes('/') ? 'no such file' : 'command not found';
  throw new CommandNotFoundError(command, 127, `cgroup exec: ${command === '' ? '""' : command}: ${where}`);
}

/**
 * `cgroup exec` from start to end: find the command on `searchPath`, create the cgroup (and
 * missing ancestors) with `spec`, run the command in it. A command that cannot be found fails
 * before anything is created. If the command cannot be started in the cgroup, the cgroups this
 * call created are removed again; a cgroup that existed before stays, with the limits applied.
 */
export async function runInCgroup(
  backend: MemoryBackend,
  path: string,
  spec: LimitsSpec,
  argv: readonly string[],
  searchPath: string,
): Promise<ExecResult> {
  const command = argv[0];
  if (command === undefined) throw new UsageError('exec: no command given; usage: oomwatch cgroup exec NAME [limits] -- CMD [ARGS...]');
  resolveCommand(command, searchPath);
  const { created } = createWithLimits(backend, path, spec);
  try {
    return await execInCgroup(backend, path, argv);
  } catch (err) {
    removeCreated(backend, created);
    throw err;
  }
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGINT', 'SIGQUIT'];

/**
 * Run argv inside the cgroup from its first instruction. A small shell is started, waiting on fd 3;
 * oomwatch moves it into the cgroup by PID (so errors come with oomwatch's own messages), then lets it
 * exec the command, which therefore never runs a single instruction outside the cgroup.
 * Signals sent to oomwatch are passed to the command. (SIGINT/SIGQUIT are not forwarded when stdin is
 * a terminal: the terminal already delivers them to the whole foreground process group.)
 */
export async function execInCgroup(backend: MemoryBackend, path: string, argv: readonly string[]): Promise<ExecResult> {
  const oomBefore = backend.stats(path).events.oom_kill ?? 0;
  const child = spawn('/bin/sh', ['-c', 'read go <&3 && exec 3<&- && exec "$@"', 'oomwatch-exec', ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    await new Promise((r) => child.once('error', r));
    throw new Error('cannot start /bin/sh to run the command');
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Forward signals from now on: once the gate opens, the command may be running before the next
  // statement, and a SIGTERM meant for it must not end oomwatch instead.
  const onTerminal = isatty(0);
  const handlers = FORWARDED.filter((s) => !(onTerminal && (s === 'SIGINT' || s === 'SIGQUIT'))).map((sig) => {
    const h = () => child.kill(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  const unforward = () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
  const gate = child.stdio[3] as Writable;
  try {
    backend.classify(path, pid);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    unforward();
    throw err;
  }
  gate.end('go\n');
  const { code, signal } = await exited;
  unforward();

  let oomAfter = oomBefore;
  try {
    oomAfter = backend.stats(path).events.oom_kill ?? 0;
  } catch {
    // The cgroup was removed while the command ran: no counter to compare, report no OOM.
  }
  const oomKills = Math.max(0, oomAfter - oomBefore);
  const status = code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));
  return { status, signal, pid, oomKills, killedByOom: signal === 'SIGKILL' && oomKills > 0 };
}
