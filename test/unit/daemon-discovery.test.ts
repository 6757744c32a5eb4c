import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupDiscovery } from '../../src/daemon/discovery.js';

/** Wait until pred holds (inotify events arrive asynchronously); fail after 5 s. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('discovery reports the existing tree, then directories created and removed (subtrees children first), never files', async () => {
  const mount = mkdtempSync(join(tmpdir(), 'oomwatch-discovery-'));
  const added: [string, boolean][] = [];
  const removed: string[] = [];
  const errors: unknown[] = [];
  const d = new CgroupDiscovery(mount, { onAdd: (p, i) => added.push([p, i]), onRemove: (p) => removed.push(p), onError: (e) => errors.push(e) });
  try {
    mkdirSync(join(mount, 'a', 'b'), { recursive: true });
    writeFileSync(join(mount, 'memory.stat'), '');
    writeFileSync(join(mount, 'a', 'memory.stat'), '');
    await d.start();
    assert.deepEqual(added.sort(), [['/', true], ['/a', true], ['/a/b', true]]);
    mkdirSync(join(mount, 'a', 'c'));
    await until(() => added.some(([p]) => p === '/a/c'), '/a/c');
    mkdirSync(join(mount, 'x', 'y', 'z'), { recursive: true });
    await until(() => added.some(([p]) => p === '/x/y/z'), '/x/y/z');
    assert.deepEqual(added.filter(([, i]) => !i).map(([p]) => p).sort(), ['/a/c', '/x', '/x/y', '/x/y/z']);
    writeFileSync(join(mount, 'a', 'c', 'memory.max'), '1');
    rmSync(join(mount, 'x'), { recursive: true });
    await until(() => removed.includes('/x'), 'removal of /x');
    assert.deepEqual(removed, ['/x/y/z', '/x/y', '/x']);
    rmSync(join(mount, 'a', 'b'), { recursive: true });
    await until(() => removed.includes('/a/b'), 'removal of /a/b');
    assert.ok(!added.some(([p]) => p.includes('memory.')), 'files are never reported');
    assert.deepEqual(errors, []);
  } finally {
    await d.stop();
    rmSync(mount, { recursive: true, force: true });
  }
});
