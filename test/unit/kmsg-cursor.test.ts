import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCursor, prepareCursorDir, readCursor, saveCursor, serializeCursor } from '../../src/kmsg/cursor.js';
import { parseBootId, readBootId } from '../../src/kmsg/bootId.js';
import { OomwatchError, ParseError } from '../../src/errors.js';

const BOOT = '6c021458-3386-4bec-862e-88c3655bbf50';

test('serialize then parse gives the cursor back; the file form uses boot_id', () => {
  const c = { bootId: BOOT, seq: 123456 };
  const text = serializeCursor(c);
  assert.deepEqual(JSON.parse(text), { boot_id: BOOT, seq: 123456 });
  assert.deepEqual(parseCursor(text), c);
});

test('parse ignores unknown keys (a later version may add some)', () => {
  assert.deepEqual(parseCursor(`{"boot_id":"${BOOT}","seq":0,"saved_at":"x"}`), { bootId: BOOT, seq: 0 });
});

test('parse rejects malformed cursors with a ParseError naming the source and the fix', () => {
  const bad = [
    '',
    'not json',
    '[]',
    'null',
    '{"seq":1}',
    `{"boot_id":"${BOOT.toUpperCase()}","seq":1}`,
    '{"boot_id":"abc","seq":1}',
    `{"boot_id":"${BOOT}"}`,
    `{"boot_id":"${BOOT}","seq":-1}`,
    `{"boot_id":"${BOOT}","seq":1.5}`,
    `{"boot_id":"${BOOT}","seq":"12"}`,
    `{"boot_id":"${BOOT}","seq":1e300}`,
    `{"boot_id":"${BOOT}","seq":1`,
  ];
  for (const text of bad) {
    assert.throws(
      () => parseCursor(text, '/var/lib/oomwatch/kmsg.cursor'),
      (err: unknown) =>
        err instanceof ParseError &&
        err.code === 'EPARSE' &&
        err.message.startsWith('/var/lib/oomwatch/kmsg.cursor: ') &&
        err.message.includes('remove /var/lib/oomwatch/kmsg.cursor'),
      text,
    );
  }
});

test('serialize refuses what could not be parsed back', () => {
  assert.throws(() => serializeCursor({ bootId: 'x', seq: 1 }), RangeError);
  assert.throws(() => serializeCursor({ bootId: BOOT, seq: -1 }), RangeError);
});

test('readCursor: a missing file is no cursor, a corrupt one an error naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-cursor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kmsg.cursor');
  assert.equal(await readCursor(file), undefined);
  writeFileSync(file, '{"boot_id":');
  await assert.rejects(readCursor(file), (err: unknown) => err instanceof ParseError && err.source === file);
});

test('saveCursor writes atomically (no temp file left) and replaces the previous cursor', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-cursor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kmsg.cursor');
  await saveCursor(file, { bootId: BOOT, seq: 1 });
  assert.deepEqual(await readCursor(file), { bootId: BOOT, seq: 1 });
  await saveCursor(file, { bootId: BOOT, seq: 2 });
  assert.deepEqual(await readCursor(file), { bootId: BOOT, seq: 2 });
  assert.deepEqual(readdirSync(dir), ['kmsg.cursor']);
  assert.equal(readFileSync(file, 'utf8'), serializeCursor({ bootId: BOOT, seq: 2 }));
});

test('saveCursor into a missing directory fails with an error naming the file, and leaves nothing behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-cursor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'nope', 'tail.cursor');
  await assert.rejects(saveCursor(file, { bootId: BOOT, seq: 1 }), (err: unknown) => {
    assert.ok(err instanceof OomwatchError);
    assert.equal(err.code, 'EIO');
    assert.equal(err.message, `${file}: cannot save the kmsg cursor: ENOENT`);
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test('prepareCursorDir creates the missing directories (0755); one that cannot be is an error naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-cursor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a', 'b', 'tail.cursor');
  await prepareCursorDir(file);
  await prepareCursorDir(file);
  for (const d of [join(dir, 'a'), join(dir, 'a', 'b')]) assert.equal(statSync(d).mode & 0o777, 0o755 & ~process.umask());
  await saveCursor(file, { bootId: BOOT, seq: 7 });
  assert.deepEqual(await readCursor(file), { bootId: BOOT, seq: 7 });
  writeFileSync(join(dir, 'f'), '');
  const bad = join(dir, 'f', 'x', 'tail.cursor');
  await assert.rejects(prepareCursorDir(bad), (err: unknown) => {
    assert.ok(err instanceof OomwatchError);
    assert.match(err.message, new RegExp(`^${bad}: cannot create the kmsg cursor's directory ${join(dir, 'f', 'x')}: ENOTDIR; create it, or choose another file$`));
    return true;
  });
  await assert.rejects(readCursor(bad), (err: unknown) => err instanceof OomwatchError && err.message === `${bad}: cannot read the kmsg cursor: ENOTDIR`);
});

test('boot id: parsed from the proc file, trimmed, validated, read through the injected proc root', (t) => {
  assert.equal(parseBootId(`${BOOT}\n`), BOOT);
  assert.throws(() => parseBootId('hello\n'), ParseError);
  const proc = mkdtempSync(join(tmpdir(), 'oomwatch-proc-'));
  t.after(() => rmSync(proc, { recursive: true, force: true }));
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${BOOT}\n`);
  assert.equal(readBootId({ proc }), BOOT);
});
