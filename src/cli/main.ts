import { Command, CommanderError } from 'commander';
import { registerCgroup } from './cgroup/index.js';
import { registerDaemon } from './daemon.js';
import { registerExplain } from './explain.js';
import { registerKills } from './kills.js';
import { registerMode } from './mode.js';
import { registerParse } from './parse.js';
import { registerRank } from './rank.js';
import { registerTail } from './tail.js';

const EXIT_CODES_HELP = `
Exit codes (the same rule for every subcommand):
  0    success
  1    runtime failure: the host is not as asked (a cgroup that does not exist,
       no memory controller, the kernel refused a value, a file could not be read)
  2    usage error: the command line is wrong (bad flag, value or cgroup name,
       a knob this cgroup version lacks)
  126  (cgroup exec) the command is not executable
  127  (cgroup exec) the command was not found
  137  (cgroup exec) the command was killed by the kernel's OOM killer
  else (cgroup exec) the command's own exit status (128+N: killed by signal N)

Every path oomwatch touches can be moved with the global options, so it can be
pointed at a fixture tree or a container's view of the host.`;

export function buildProgram(): Command {
  const program = new Command('oomwatch');
  program
    .description(
      'Which process did the kernel kill for lack of memory, in which cgroup,\n' +
        'and how close is everything else to the same fate? (cgroup v1, v2 and hybrid)',
    )
    .version(process.env['npm_package_version'] ?? '0.1.0')
    .option('--cgroup-root <dir>', 'where cgroup hierarchies are mounted', '/sys/fs/cgroup')
    .option('--proc-root <dir>', 'the proc filesystem', '/proc')
    .option('--kmsg <path>', 'the kernel log device', '/dev/kmsg')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride();
  registerMode(program);
  registerCgroup(program);
  registerDaemon(program);
  registerParse(program);
  registerTail(program);
  registerRank(program);
  registerExplain(program);
  registerKills(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // A reader that went away (`oomwatch ... | head`) is no error: stop quietly, as cat does.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}
