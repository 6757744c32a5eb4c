/**
 * The release (`scripts/package`): the tarball runs on a host with no Node, and the .deb is what
 * Debian's tools accept. The package is built once for the file, into a temporary folder, from
 * the compiled checkout (npm test builds first). Installing the .deb and running it under systemd
 * is the systemd VM's part (test/vm/systemd/).
 *
 * "No Node on the host" is made true, not assumed: the release runs in a private mount namespace
 * (unshare --mount) where every node this machine has (whatever `which -a node` finds, and the
 * test's own) is covered by a bind mount of an empty, non-executable file, with a minimal
 * environment (env -i, PATH=/usr/bin:/bin). The same namespace first shows that `node` cannot run
 * there, so the check cannot pass by finding the host's node.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { TOP, oomwatch } from '../helpers/cli.js';
import { requireTools } from '../helpers/promstack.js';

const VERSION = (JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'oomwatch-release-'));
const out = join(work, 'release');
const tarball = join(out, `oomwatch-${VERSION}-linux-x64.tar.gz`);
const deb = join(out, `oomwatch_${VERSION}_amd64.deb`);
const unpacked = join(work, 'unpacked');
const release = join(unpacked, `oomwatch-${VERSION}`);
let built: { status: number | null; output: string } | undefined;

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 120_000, cwd: opts.cwd ?? TOP, maxBuffer: 64 * 2 ** 20 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function needsBuild(t: TestContext): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    if (process.env['CI'] === 'true') throw new Error('cannot run in CI: the release is linux-x64 only');
    t.skip('the release is linux-x64 only');
    return false;
  }
  if (!requireTools(t, 'dpkg-deb', 'strip', 'objdump', 'tar')) return false;
  assert.ok(built !== undefined);
  assert.equal(built.status, 0, `scripts/package failed:\n${built.output}`);
  return true;
}

/**
 * Run ARGS (a program inside the release) with no node anywhere: a private mount namespace where
 * each node binary on this host is bind-mounted over by an empty file, and env -i. `probe` first
 * checks, in that same namespace, that `node` cannot be run.
 */
function withoutNode(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const nodes = new Set<string>([process.execPath]);
  const w = run('sh', ['-c', 'which -a node nodejs 2>/dev/null; true']);
  for (const p of w.stdout.split('\n').filter(Boolean)) nodes.add(p);
  const blank = join(work, 'no-node');
  writeFileSync(blank, '', { mode: 0o644 });
  const script = [
    'set -e',
    'blank="$1"; shift',
    `for n in ${[...nodes].map((n) => `'${n}'`).join(' ')}; do [ -e "$n" ] && mount --bind "$blank" "$n"; done`,
    // The proof that no node is left: any node on PATH, or the test's own, fails to start.
    `for n in node nodejs ${[...nodes].map((n) => `'${n}'`).join(' ')}; do if env -i PATH=/usr/bin:/bin:/usr/local/bin "$n" -e 0 2>/dev/null; then echo "node still runs: $n" >&2; exit 99; fi; done`,
    'exec env -i PATH=/usr/bin:/bin "$@"',
  ].join('\n');
  return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', blank, ...args]);
}

describe('the release: scripts/package', { timeout: 30 * 60_000 }, () => {
  before(() => {
    // Both files, from the compiled checkout; npm ci --omit=dev needs npm's cache or the registry.
    const r = run('bash', [join(TOP, 'scripts', 'package'), out], { timeout: 25 * 60_000 });
    built = { status: r.status, output: `${r.stdout}${r.stderr}` };
    if (r.status === 0) {
      run('mkdir', ['-p', unpacked]);
      const x = run('tar', ['-xzf', tarball, '-C', unpacked]);
      assert.equal(x.status, 0, x.stderr);
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the tarball holds oomwatch-<version>/ with the app, its production dependencies and Node 24', (t) => {
    if (!needsBuild(t)) return;
    assert.deepEqual(readdirSync(unpacked), [`oomwatch-${VERSION}`]);
    assert.ok(statSync(join(release, 'bin', 'oomwatch')).mode & 0o111, 'bin/oomwatch is executable');
    const v = run(join(release, 'node', 'bin', 'node'), ['--version']);
    assert.match(v.stdout, /^v24\./);
    assert.ok(existsSync(join(release, 'node', 'LICENSE')));
    assert.ok(existsSync(join(release, 'app', 'dist', 'src', 'cli', 'main.js')));
    const modules = readdirSync(join(release, 'app', 'node_modules'));
    const pkg = JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(modules.includes(dep), `production dependency ${dep} is bundled`);
    for (const dep of Object.keys(pkg.devDependencies)) {
      assert.ok(!existsSync(join(release, 'app', 'node_modules', ...dep.split('/'))), `development dependency ${dep} is not bundled`);
    }
    assert.ok(!existsSync(join(release, 'app', 'dist', 'test')), 'no compiled tests');
  });

  test('unpacked anywhere, bin/oomwatch runs `mode` with no node on the host', (t) => {
    if (!needsBuild(t)) return;
    if (process.getuid?.() !== 0) {
      if (process.env['CI'] === 'true') throw new Error('cannot run in CI: unshare --mount needs root');
      t.skip('unshare --mount needs root');
      return;
    }
    if (!requireTools(t, 'unshare', 'mount')) return;
    const r = withoutNode([join(release, 'bin', 'oomwatch'), 'mode', '--json']);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    // The same answer as the checkout's own CLI on this host.
    const mine = oomwatch(['mode', '--json']);
    assert.equal(mine.status, 0, mine.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(mine.stdout));
    const v = withoutNode([join(release, 'bin', 'oomwatch'), '--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), VERSION);
    // And the check is a check: without the bundled node the release cannot start either.
    rmSync(join(release, 'node', 'bin', 'node'));
    const gone = withoutNode([join(release, 'bin', 'oomwatch'), 'mode', '--json']);
    assert.notEqual(gone.status, 0, `ran without any node:\n${gone.stdout}`);
  });

  test('the .deb: its files, conffiles and dependencies; lintian finds no error', (t) => {
    if (!needsBuild(t) || !requireTools(t, 'lintian')) return;
    const contents = run('dpkg-deb', ['--contents', deb]);
    assert.equal(contents.status, 0, contents.stderr);
    const paths = contents.stdout.split('\n').map((l) => l.replace(/^.*? \.\//, '/'));
    for (const want of [
      '/usr/bin/oomwatch -> ../lib/oomwatch/bin/oomwatch',
      '/usr/lib/oomwatch/bin/oomwatch',
      '/usr/lib/oomwatch/node/bin/node',
      '/usr/lib/oomwatch/app/dist/src/cli/main.js',
      '/lib/systemd/system/oomwatch.service',
      '/etc/oomwatch/config.yml',
      '/etc/default/oomwatch',
      '/var/lib/oomwatch/',
      '/usr/share/doc/oomwatch/copyright',
    ]) {
      assert.ok(paths.includes(want), `${want} in the .deb:\n${contents.stdout.slice(0, 4000)}`);
    }
    const field = (name: string) => run('dpkg-deb', ['--field', deb, name]).stdout.trim();
    assert.equal(field('Package'), 'oomwatch');
    assert.equal(field('Version'), VERSION);
    assert.equal(field('Architecture'), 'amd64');
    // Only packages every Debian 12 has: no nodejs.
    assert.doesNotMatch(field('Depends'), /node/);
    const conffiles = run('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xOf - ./conffiles`]);
    assert.deepEqual(conffiles.stdout.trim().split('\n').sort(), ['/etc/default/oomwatch', '/etc/oomwatch/config.yml']);
    // The unit in the .deb runs the package's command; everything else is the checkout's unit.
    const unit = run('sh', ['-c', `dpkg-deb --fsys-tarfile '${deb}' | tar -xOf - ./lib/systemd/system/oomwatch.service`]).stdout;
    assert.match(unit, /^ExecStart=\/usr\/bin\/oomwatch daemon \$OOMWATCH_ARGS$/m);
    const shipped = readFileSync(join(TOP, 'systemd', 'oomwatch.service'), 'utf8');
    const body = (s: string) => s.split('\n').filter((l) => !l.startsWith('#') && !/^(ExecStart|Documentation)=/.test(l)).join('\n');
    assert.equal(body(unit), body(shipped));

    const l = run('lintian', ['--tag-display-limit', '0', deb], { timeout: 10 * 60_000 });
    const errors = l.stdout.split('\n').filter((line) => line.startsWith('E: '));
    assert.deepEqual(errors, [], l.stdout);
    assert.equal(l.status, 0, `lintian exit ${l.status}: ${l.stderr}`);
  });
});
