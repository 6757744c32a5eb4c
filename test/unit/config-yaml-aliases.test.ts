import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, MAX_ALIAS_COUNT, loadConfig } from '../../src/daemon/config.js';
import { yamlAliasBomb } from '../helpers/configs.js';


function withFile(text: string, f: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'oomwatch-config-'));
  try {
    const file = join(dir, 'config.yml');
    writeFileSync(file, text);
    f(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('loadConfig rejects a YAML alias bomb with a ConfigError (exit 2) naming the file', () => {
  withFile(yamlAliasBomb(), (file) => {
    assert.throws(
      () => loadConfig(file),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
        assert.equal(err.code, 'ECONFIG');
        assert.equal(err.exitCode, 2);
        assert.ok(err.message.startsWith(`${file}: `), err.message);
        assert.match(err.message, /YAML aliases/);
        return true;
      },
    );
  });
});

test('an alias to an anchor defined nowhere is a ConfigError naming the file', () => {
  withFile('state_dir: *nowhere\n', (file) => {
    assert.throws(() => loadConfig(file), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${file}`));
  });
});

test('one block of limits shared by many cgroups through an alias loads', () => {
  const n = Math.floor(MAX_ALIAS_COUNT / 2);
  // More uses of one anchor than the yaml package allows by default (100).
  const shared = ['cgroups:', '  - {name: batch/w0, memory: &limit 64M}', ...Array.from({ length: n - 1 }, (_, i) => `  - {name: batch/w${i + 1}, memory: *limit}`), ''].join('\n');
  withFile(shared, (file) => {
    const c = loadConfig(file);
    assert.equal(c.cgroups.length, n);
    assert.ok(c.cgroups.every((g) => g.limits.memory === 64 * 2 ** 20));
  });
});
