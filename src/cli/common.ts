import type { Command } from 'commander';
import { CommandNotFoundError, OomwatchError, isErrno } from '../errors.js';
import { rootsFrom, type Roots } from '../roots.js';

/** The global options every subcommand inherits (see main.ts). */
export interface GlobalOptions {
  cgroupRoot?: string;
  procRoot?: string;
  kmsg?: string;
}

export function rootsOf(cmd: Command): Roots {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  return rootsFrom({
    ...(o.cgroupRoot === undefined ? {} : { cgroupRoot: o.cgroupRoot }),
    ...(o.procRoot === undefined ? {} : { procRoot: o.procRoot }),
    ...(o.kmsg === undefined ? {} : { kmsgPath: o.kmsg }),
  });
}

/** Print an error the way every subcommand does and return the exit code for it. */
export function reportError(err: unknown): number {
  if (err instanceof OomwatchError) {
    process.stderr.write(`oomwatch: ${err.message}\n`);
    return err instanceof CommandNotFoundError ? err.exitStatus : err.exitCode;
  }
  if (isErrno(err, 'EACCES', 'EPERM')) {
    process.stderr.write(`oomwatch: ${err.message}: permission denied; run as root (sudo oomwatch ...)\n`);
    return 1;
  }
  const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`oomwatch: unexpected error: ${msg}\n`);
  return 1;
}

/**
 * Wrap a subcommand action: errors become a message on stderr and an exit code
 * by the one rule in src/errors.ts (0 ok, 1 runtime failure, 2 usage error, 126/127 a command
 * exec cannot run); a number returned by the action is the exit code.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void> | number | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

/** A reader that went away (`oomwatch ... | head`) is no error: stop quietly, as cat does. */
export function stopQuietlyOnEpipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
