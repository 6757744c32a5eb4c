/**
 * plainParseArgs: which `parse` command lines bin/oomwatch runs without commander. Only file names,
 * `-` and --json, read as commander reads them; anything else is commander's to read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { plainParseArgs, registerParse } from '../../src/cli/parse.js';

/** What commander hands parse's action for these arguments (files, --json), or its error. */
function commanderReads(args: string[]): { files: string[]; json: boolean } | string {
  const program = new Command('oomwatch').exitOverride();
  let got: { files: string[]; json: boolean } | undefined;
  registerParse(program);
  const parse = program.commands[0] as Command;
  parse.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  parse.action((files: string[], opts: { json?: boolean }) => {
    got = { files, json: opts.json === true };
  });
  try {
    program.parse(['parse', ...args], { from: 'user' });
  } catch (err) {
    return (err as Error).message;
  }
  return got ?? 'no action';
}

test('files, - and --json anywhere: read as commander reads them', () => {
  for (const args of [[], ['--json'], ['a.log'], ['a.log', '--json', 'b.log'], ['-'], ['--json', '-', 'a', '-'], [''], ['help'], ['--json', '--json']]) {
    assert.deepEqual(plainParseArgs(args), commanderReads(args), args.join(' '));
  }
});

test('any other option, --, or a name that starts with - is left to commander', () => {
  for (const args of [['--help'], ['-h'], ['--year', '2026', 'a.log'], ['--boot-time=2026-01-01T00:00:00Z'], ['--', 'a.log'], ['-x'], ['a.log', '--jsonl'], ['--JSON']]) {
    assert.equal(plainParseArgs(args), null, args.join(' '));
  }
});
