/**
 * Data flows one way (docs/architecture.md): a module imports from its own layer or the layers
 * below it, never from one above. The layers, lowest first:
 *   errors, roots, version → cgroup, kmsg, proc → oom → logfmt, runtime → collectors → daemon → cli
 * bin/ and the tests sit on top of everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { TOP } from '../helpers/cli.js';

const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'roots.ts', 'version.ts'],
  ['cgroup', 'kmsg', 'proc'],
  ['oom'],
  ['logfmt', 'runtime'],
  ['collectors'],
  ['daemon'],
  ['cli'],
];

const SRC = join(TOP, 'src');

function layerOf(file: string): number {
  const top = relative(SRC, file).split('/')[0] ?? '';
  const i = LAYERS.findIndex((names) => names.includes(top));
  if (i < 0) throw new Error(`${relative(TOP, file)}: src/${top} is in no layer: add it to LAYERS (and to docs/architecture.md)`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative specifiers of static imports and re-exports, and of dynamic import('…') calls. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm)) out.push(m[1] as string);
  return out;
}

test('no module under src/ imports from a layer above its own', () => {
  const offenders: string[] = [];
  for (const file of sources(SRC)) {
    const own = layerOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      const layer = layerOf(target);
      if (layer > own) offenders.push(`${relative(TOP, file)} imports ${spec} (${relative(TOP, target)})`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the layer check sees an upward import', () => {
  // The regular expression must match the forms the sources use; a check that sees nothing passes.
  assert.deepEqual(importsOf("import { X } from '../daemon/x.js';\nexport { Y } from './y.js';\nconst z = await import('../cli/z.js');\nimport './side.js';"), [
    '../daemon/x.js',
    './y.js',
    '../cli/z.js',
    './side.js',
  ]);
  assert.ok(layerOf(join(SRC, 'collectors', 'a.ts')) < layerOf(join(SRC, 'daemon', 'b.ts')));
});
