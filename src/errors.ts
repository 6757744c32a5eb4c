/**
 * Errors with stable codes. Callers branch on `code` or `instanceof`, never on message text.
 * Every message names what failed (file, cgroup) and, where there is one, the fix.
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
  | 'ECONFIG';

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

/** Narrow an unknown thrown value to a Node system error with an errno code. */
export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (codes.length === 0 || codes.includes((err as NodeJS.ErrnoException).code as string))
  );
}
