import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupDiscovery } from '../../src/daemon/discovery.js';
import { until } from '../helpers/until.js';

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
    await until('/a/c', () => added.some(([p]) => p === '/a/c'));
    mkdirSync(join(mount, 'x', 'y', 'z'), { recursive: true });
    await until('/x/y/z', () => added.some(([p]) => p === '/x/y/z'));
    assert.deepEqual(added.filter(([, i]) => !i).map(([p]) => p).sort(), ['/a/c', '/x', '/x/y', '/x/y/z']);
    writeFileSync(join(mount, 'a', 'c', 'memory.max'), '1');
    rmSync(join(mount, 'x'), { recursive: true });
    await until('removal of /x', () => removed.includes('/x'));
    assert.deepEqual(removed, ['/x/y/z', '/x/y', '/x']);
    rmSync(join(mount, 'a', 'b'), { recursive: true });
    await until('removal of /a/b', () => removed.includes('/a/b'));
    assert.ok(!added.some(([p]) => p.includes('memory.')), 'files are never reported');
    assert.deepEqual(errors, []);
  } finally {
    await d.stop();
    rmSync(mount, { recursive: true, force: true });
  }
});
