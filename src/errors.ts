/**
 * Errors with stable codes. Callers branch on `code` or `instanceof`, never on message text.
 * Every message names what failed (file, cgroup) and, where there is one, the fix.
 *
 * Exit codes, one rule for every subcommand (the CLI's --help epilogue repeats it):
 *   1  runtime failure: the state of the host. The kernel refused a value, a file could not be read,
 *      a cgroup or the memory controller is not there (ENOCGROUP, ENOMEMCG). The same command line
 *      can succeed on another host or later.
 *   2  usage error: the command line itself. A bad flag, value or cgroup name, a knob this cgroup
 *      version does not have (EUSAGE, ENOTSUPPORTED, ECONFIG). No host state makes it succeed.
 *   126, 127  (cgroup exec) the command cannot be run: not executable, not found (ENOCOMMAND), as a
 *      shell reports them.
 */

export type ErrorCode =
  | 'EPARSE'
  | 'EUSAGE'
  | 'ENOTSUPPORTED'
  | 'ENOTROOT'
  | 'ENOCGROUP'
  | 'EEXISTS'
  | 'EBUSY'
  | 'ECONTROLLER'
  | 'EREJECTED'
  | 'ENOMEMCG'
  | 'EIO'
  | 'ECONFIG'
  | 'ENOCOMMAND';

export class OomwatchError extends Error {
  readonly code: ErrorCode;
  /** Process exit code the CLI uses for this error: 2 for usage errors, 1 for runtime failures. */
  readonly exitCode: 1 | 2;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: 1 | 2 }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** Input text that is there but wrong: names the source, the line and the raw value. */
export class ParseError extends OomwatchError {
  readonly source: string;
  readonly line: number | undefined;
  constructor(source: string, message: string, options?: { line?: number; cause?: unknown }) {
    const where = options?.line === undefined ? source : `${source}:${options.line}`;
    super('EPARSE', `${where}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.source = source;
    this.line = options?.line;
  }
}

/** A bad command line or a request that can never succeed as asked (exit 2). */
export class UsageError extends OomwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EUSAGE', message, { ...options, exitCode: 2 });
  }
}

/** A knob that this cgroup version does not have. Never a silent no-op (exit 2). */
export class NotSupportedError extends OomwatchError {
  constructor(message: string) {
    super('ENOTSUPPORTED', message, { exitCode: 2 });
  }
}

/** A cgroup that does not exist: a runtime failure (exit 1), the name itself may be right. */
export class NoSuchCgroupError extends OomwatchError {
  readonly path: string;
  /** `dir`: where the cgroup was looked for; `hint`: what to do instead, appended to the message. */
  constructor(path: string, dir: string, hint?: string) {
    super('ENOCGROUP', `cgroup ${path} does not exist (${dir})${hint === undefined ? '' : `; ${hint}`}`);
    this.path = path;
  }
}

/**
 * The command given to `cgroup exec` cannot be run: not found on PATH (exit status 127) or not
 * executable (126), the statuses a shell uses. `exitStatus` is the process exit status the CLI uses.
 */
export class CommandNotFoundError extends OomwatchError {
  readonly command: string;
  readonly exitStatus: 126 | 127;
  constructor(command: string, exitStatus: 126 | 127, message: string) {
    super('ENOCOMMAND', message);
    this.command = command;
    this.exitStatus = exitStatus;
  }
}

/** Narrow an unknown thrown value to a Node system error with an errno code. */
export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (codes.length === 0 || codes.includes((err as NodeJS.ErrnoException).code as string))
  );
}
