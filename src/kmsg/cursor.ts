/**
 * The kmsg cursor: where a reader stopped, as `{boot_id, seq}`. SEQ numbers of /dev/kmsg records
 * (Documentation/ABI/testing/dev-kmsg) start over at every boot, so a SEQ means something only
 * together with the boot id (`/proc/sys/kernel/random/boot_id`) it was read under.
 *
 * On disk: one JSON object, `{"boot_id":"<uuid>","seq":<n>}` (unknown keys are ignored).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OomwatchError, ParseError, isErrno } from '../errors.js';
import { isBootId } from './bootId.js';

export interface KmsgCursor {
  /** The boot the SEQ belongs to. */
  readonly bootId: string;
  /** The SEQ of the last record the reader delivered (or deliberately skipped). */
  readonly seq: number;
}

/** The fix a user needs when the cursor file is damaged. */
function fixFor(source: string): string {
  return `remove ${source} to start from the end of the kernel log (kills still in the log would then not be reported), or restore it`;
}

/** Parse a cursor file's text. Pure; throws ParseError (naming the file and the fix) on anything malformed. */
export function parseCursor(text: string, source = 'cursor'): KmsgCursor {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ParseError(source, `corrupt kmsg cursor (not JSON: ${JSON.stringify(text.slice(0, 80))}); ${fixFor(source)}`, {
      cause: err,
    });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ParseError(source, `corrupt kmsg cursor (not a JSON object); ${fixFor(source)}`);
  }
  const o = v as Record<string, unknown>;
  const bootId = o['boot_id'];
  const seq = o['seq'];
  if (typeof bootId !== 'string' || !isBootId(bootId)) {
    throw new ParseError(source, `corrupt kmsg cursor: boot_id ${JSON.stringify(bootId)} is not a boot id; ${fixFor(source)}`);
  }
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new ParseError(source, `corrupt kmsg cursor: seq ${JSON.stringify(seq)} is not a record number; ${fixFor(source)}`);
  }
  return { bootId, seq };
}

/** The on-disk form of a cursor (one line of JSON). Pure. */
export function serializeCursor(c: KmsgCursor): string {
  if (!isBootId(c.bootId)) throw new RangeError(`not a boot id: ${JSON.stringify(c.bootId)}`);
  if (!Number.isSafeInteger(c.seq) || c.seq < 0) throw new RangeError(`not a record number: ${c.seq}`);
  return `${JSON.stringify({ boot_id: c.bootId, seq: c.seq })}\n`;
}

function errnoText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/**
 * Read a saved cursor. A missing file is no cursor (undefined); a file that is there but corrupt
 * is a ParseError naming the file and the fix; one that cannot be read is an OomwatchError (EIO).
 */
export async function readCursor(file: string): Promise<KmsgCursor | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new OomwatchError('EIO', `${file}: cannot read the kmsg cursor: ${errnoText(err)}`, { cause: err });
  }
  return parseCursor(text, file);
}

/**
 * Create the directory a cursor file goes in, and its parents, if missing (mode 0755, as the
 * daemon's state directory and systemd's StateDirectory: the cursor holds a boot id, which
 * /proc/sys/kernel/random/boot_id shows to everyone, and a record number, nothing secret).
 * Throws an OomwatchError (EIO) naming the directory when it cannot be created.
 */
export async function prepareCursorDir(file: string): Promise<void> {
  const dir = dirname(file);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new OomwatchError(
      'EIO',
      `${file}: cannot create the kmsg cursor's directory ${dir}: ${errnoText(err)}; create it, or choose another file`,
      { cause: err },
    );
  }
}

/**
 * Save a cursor atomically: write a temporary file in the same directory, fsync it, rename it over
 * `file`, then fsync the directory, so a crash leaves either the old cursor or the new one, never a
 * torn file.
 */
export async function saveCursor(file: string, cursor: KmsgCursor): Promise<void> {
  const data = serializeCursor(cursor);
  try {
    await writeAtomically(file, data);
  } catch (err) {
    throw new OomwatchError('EIO', `${file}: cannot save the kmsg cursor: ${errnoText(err)}`, { cause: err });
  }
}

async function writeAtomically(file: string, data: string): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined /* the write error is the one worth reporting */);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined /* the rename error is the one worth reporting */);
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
