#!/usr/bin/env node
// Runs the whole suite: every compiled test file of the three host tiers (unit, fixture, real
// kernel) in one `node --test` run on the node running this script, one file at a time because the
// real-kernel files share one kernel log and one cgroup tree; then the parts that run on Nodes 24
// and 22 (below); then the cgroup v2 suite in a qemu VM (test/vm/run) and the systemd VM
// (test/vm/systemd/run). Node 20's `node --test` takes no glob, so the files are listed here.
// Usage: node test/run.mjs [--no-vm] [--only-vm] [part...]
//   parts: unit fixture real (on the node running this script), node24 and node22; default: all five.
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const parts = args.filter((a) => !a.startsWith('--'));
const TIERS = ['unit', 'fixture', 'real'];
/**
 * The supported LTS lines, Node 24 and 22, from the npm registry's node-linux-<arch> package:
 * `bash scripts/install-deps --test` puts them in .cache/node/<major>. On each run the unit and
 * fixture tiers, the kernel log reader's real test (woken by the kernel through pipe_wrap, an
 * internal binding of Node's), and the real daemon's: daemon-runtime (the daemon is this binary,
 * woken by the kernel, and counts a real kill) and daemon-v1 (kills, a storm, restarts, overruns,
 * reloads). Its directory comes first on PATH and OOMWATCH_TEST_NODE names it, for
 * daemon-runtime's checks.
 */
const LTS = [24, 22];
const LTS_PARTS = LTS.map((major) => `node${major}`);
const LTS_REAL = ['kmsg-reader.test.js', 'daemon-runtime.test.js', 'daemon-v1.test.js'];
for (const p of parts) {
  if (![...TIERS, ...LTS_PARTS].includes(p)) {
    console.error(`test/run.mjs: unknown part ${p}: use ${[...TIERS, ...LTS_PARTS].join(', ')}`);
    process.exit(2);
  }
}
const selected = parts.length > 0 ? parts : [...TIERS, ...LTS_PARTS];

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const tierFiles = (tier) => walk(join(top, 'dist', 'test', tier)).sort();

/** `node --test` on these files, one at a time; returns its exit status. */
function runTests(node, files, env = process.env) {
  if (files.length === 0) {
    console.error('test/run.mjs: no compiled tests under dist/test: run `npm run build` first');
    process.exit(1);
  }
  const r = spawnSync(node, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', cwd: top, env });
  return r.status ?? 1;
}

let status = 0;
if (!flags.has('--only-vm')) {
  const tiers = selected.filter((p) => TIERS.includes(p));
  if (tiers.length > 0) status = runTests(process.execPath, tiers.flatMap(tierFiles));

  for (const major of LTS.filter((m) => selected.includes(`node${m}`))) {
    const node = join(top, '.cache', 'node', String(major), 'bin', 'node');
    const v = spawnSync(node, ['--version'], { encoding: 'utf8' });
    const version = v.status === 0 ? v.stdout.trim() : undefined;
    if (version === undefined || !version.startsWith(`v${major}.`)) {
      const why = `no Node ${major} at ${relative(top, node)} (${version ?? v.error?.message ?? v.stderr.trim()}): run \`bash scripts/install-deps --test\``;
      // Like a privileged test: CI must run it, elsewhere it may be skipped, loudly.
      if (process.env['CI'] === 'true') {
        console.error(`test/run.mjs: ${why}`);
        status = status || 1;
      } else {
        console.error(`test/run.mjs: SKIPPED the Node ${major} part: ${why}`);
      }
      continue;
    }
    const files = [...tierFiles('unit'), ...tierFiles('fixture'), ...LTS_REAL.map((f) => join(top, 'dist', 'test', 'real', f))];
    console.log(`test/run.mjs: on Node ${version} (${relative(top, node)}): the unit and fixture tiers, ${LTS_REAL.map((f) => `real/${f}`).join(', ')}`);
    const env = { ...process.env, PATH: `${dirname(node)}:${process.env['PATH'] ?? ''}`, OOMWATCH_TEST_NODE: node };
    const s = runTests(node, files, env);
    status = status || s;
  }
}
if (!flags.has('--no-vm')) {
  // The busybox cgroup v2 VM, then the Debian 12 VM with systemd as PID 1 (test/vm/systemd/run:
  // it builds the release with scripts/package and installs the .deb there).
  for (const runner of [['test', 'vm', 'run'], ['test', 'vm', 'systemd', 'run']]) {
    if (!existsSync(join(top, ...runner))) continue;
    const r = spawnSync('bash', [join(top, ...runner)], { stdio: 'inherit', cwd: top });
    if ((r.status ?? 1) !== 0) status = status || r.status || 1;
  }
}
process.exit(status);
