/**
 * The CLI imports only the module of the subcommand that runs: `oomwatch --help` lists the others
 * from the table in src/cli/main.ts. These tests hold that table to the modules (the same names,
 * arguments and descriptions) and the choice of module to commander's own reading of the line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { SUBCOMMANDS, buildProgram, subcommandOf } from '../../src/cli/main.js';

const ALL = SUBCOMMANDS.map((s) => s.name);

test('oomwatch --help is the same whether every subcommand module is loaded or none', async () => {
  const lazy = (await buildProgram([])).helpInformation();
  const eager = (await buildProgram(ALL)).helpInformation();
  assert.equal(lazy, eager);
  for (const name of ALL) assert.match(lazy, new RegExp(`^  ${name}\\b`, 'm'));
});

test("each table row names the command its module registers, with that command's arguments and description", async () => {
  const eager = await buildProgram(ALL);
  const help = eager.createHelp();
  for (const sub of SUBCOMMANDS) {
    const cmd = eager.commands.find((c: Command) => c.name() === sub.name);
    assert.ok(cmd, `${sub.name}'s module registers no command of that name`);
    assert.equal(cmd.description(), sub.description, sub.name);
    assert.equal(help.subcommandTerm(cmd), sub.args === '' ? sub.name : `${sub.name} ${sub.args}`);
  }
  assert.equal(eager.commands.length, SUBCOMMANDS.length, 'every subcommand has its row');
});

test('a subcommand loaded is complete: its help has its options; one not loaded has none', async () => {
  const program = await buildProgram(['parse']);
  const parse = program.commands.find((c) => c.name() === 'parse');
  const rank = program.commands.find((c) => c.name() === 'rank');
  assert.match(parse?.helpInformation() ?? '', /--boot-time <time>/);
  assert.equal(rank?.options.length, 0);
});

test('the subcommand to load is the one commander runs, wherever the global options are', () => {
  assert.equal(subcommandOf(['mode', '--json']), 'mode');
  assert.equal(subcommandOf(['--kmsg', 'parse', 'mode']), 'mode');
  assert.equal(subcommandOf(['--kmsg=parse', 'rank', 'x']), 'rank');
  assert.equal(subcommandOf(['--cgroup-root', '/x', '--proc-root', '/p', 'cgroup', 'ls']), 'cgroup');
  assert.equal(subcommandOf(['parse', '--kmsg', 'x', 'file']), 'parse');
  assert.equal(subcommandOf(['help', 'tail']), 'tail');
  assert.equal(subcommandOf(['-V']), undefined);
  assert.equal(subcommandOf(['--help']), undefined);
  assert.equal(subcommandOf([]), undefined);
  assert.equal(subcommandOf(['nosuch', 'parse']), 'nosuch');
});
