#!/usr/bin/env node
// Runs the whole suite: every compiled test file of the three host tiers (unit, fixture, real
// kernel) in one `node --test` run, one file at a time because the real-kernel files share one
// kernel log and one cgroup tree; then the cgroup v2 suite in a qemu VM (test/vm/run).
// Node 20's `node --test` takes no glob, so the files are listed here.
// Usage: node test/run.mjs [--no-vm] [--only-vm] [tier...]   (tiers: unit fixture real)
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const tiers = args.filter((a) => !a.startsWith('--'));
const selected = tiers.length > 0 ? tiers : ['unit', 'fixture', 'real'];

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

let status = 0;
if (!flags.has('--only-vm')) {
  const files = selected.flatMap((tier) => walk(join(top, 'dist', 'test', tier)).sort());
  if (files.length === 0) {
    console.error('test/run.mjs: no compiled tests under dist/test: run `npm run build` first');
    process.exit(1);
  }
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    cwd: top,
  });
  status = r.status ?? 1;
}
if (!flags.has('--no-vm') && existsSync(join(top, 'test', 'vm', 'run'))) {
  const r = spawnSync('bash', [join(top, 'test', 'vm', 'run')], { stdio: 'inherit', cwd: top });
  if ((r.status ?? 1) !== 0) status = status || r.status || 1;
}
process.exit(status);
