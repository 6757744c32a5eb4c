/**
 * Data flows one way: /proc readers (src/proc) know nothing of the OOM logic built on them
 * (src/oom), which may import what proc reads but not the reverse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TOP } from '../helpers/cli.js';

test('no module under src/proc imports from src/oom', () => {
  const dir = join(TOP, 'src', 'proc');
  const offenders: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (/^\s*(import|export)\b.*from\s+['"]\.\.\/oom\//.test(line)) offenders.push(`src/proc/${f}: ${line.trim()}`);
    }
  }
  assert.deepEqual(offenders, []);
});
