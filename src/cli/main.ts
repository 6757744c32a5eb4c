import { Command, CommanderError } from 'commander';
import { stopQuietlyOnEpipe } from './common.js';

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

/** A subcommand: its line in `oomwatch --help`, and its module, imported only when it runs. */
export interface Subcommand {
  readonly name: string;
  /** What `oomwatch --help` shows after the name: its arguments, as commander prints them. */
  readonly args: string;
  /** The same description as the one the module's register function gives (a unit test compares them). */
  readonly description: string;
  /** Imports the module and returns its register function, which adds the complete command. */
  readonly load: () => Promise<(program: Command) => void>;
}

/**
 * Every subcommand, in `oomwatch --help`'s order. Only the module of the subcommand that runs (or
 * whose help is asked for) is imported: importing them all took longer than the work of most
 * commands. To add one: write `registerX(program)` in its own module as usual and add a row here.
 */
export const SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'mode',
    args: '[options]',
    description: 'report whether this host runs cgroup v1, v2 or hybrid, and where the memory controller is',
    load: async () => (await import('./mode.js')).registerMode,
  },
  {
    name: 'cgroup',
    args: '',
    description: 'create, configure, inspect and remove memory cgroups (v1 or v2, as the host has)',
    load: async () => (await import('./cgroup/index.js')).registerCgroup,
  },
  {
    name: 'daemon',
    args: '[options]',
    description: 'run the watcher: declared cgroups, memory polling, OOM kills from the kernel log, /metrics and /healthz',
    load: async () => (await import('./daemon.js')).registerDaemon,
  },
  {
    name: 'parse',
    args: '[options] [file...]',
    description: 'find the OOM kills in a kernel log (raw /dev/kmsg, dmesg, journalctl -k or bare text)',
    load: async () => (await import('./parse.js')).registerParse,
  },
  {
    name: 'tail',
    args: '[options]',
    description: 'follow the kernel log live and print each OOM kill as it happens (needs root or CAP_SYSLOG)',
    load: async () => (await import('./tail.js')).registerTail,
  },
  {
    name: 'rank',
    args: '[options] [name]',
    description: 'who dies next: processes in the order the OOM killer would choose them',
    load: async () => (await import('./rank.js')).registerRank,
  },
  {
    name: 'explain',
    args: '[options] [file]',
    description: "one OOM kill's story in plain words: which limit, what the memory was, why this process, what to change",
    load: async () => (await import('./explain.js')).registerExplain,
  },
  {
    name: 'kills',
    args: '[options]',
    description: 'the OOM kills the daemon recorded (kills.jsonl in its state directory), newest last',
    load: async () => (await import('./kills.js')).registerKills,
  },
];

function baseProgram(): Command {
  return new Command('oomwatch')
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
}

/**
 * The subcommand `args` (without node and the script) will run, or whose help it asks for
 * (`help NAME`): the first operand as commander itself finds it, by its own option parsing on a
 * program with the same global options (and no listeners: `--version` prints nothing here).
 */
export function subcommandOf(args: readonly string[]): string | undefined {
  const probe = new Command().allowUnknownOption().allowExcessArguments();
  for (const o of baseProgram().options) probe.addOption(o);
  const { operands } = probe.parseOptions([...args]);
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/**
 * The program with every subcommand listed; those named in `load` complete (options, arguments,
 * help, action), the others only their name, arguments and description, for `oomwatch --help`.
 */
export async function buildProgram(load: readonly string[]): Promise<Command> {
  const program = baseProgram();
  const terms = new Map<Command, string>();
  for (const sub of SUBCOMMANDS) {
    if (load.includes(sub.name)) {
      (await sub.load())(program);
      continue;
    }
    const stub = program.command(sub.name).description(sub.description);
    terms.set(stub, sub.args === '' ? sub.name : `${sub.name} ${sub.args}`);
    stub.action(() => {
      throw new Error(`oomwatch: internal error: subcommand ${sub.name} ran without its module`);
    });
  }
  const help = program.createHelp();
  program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd) ?? help.subcommandTerm(cmd) });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  stopQuietlyOnEpipe();
  const name = subcommandOf(argv.slice(2));
  const program = await buildProgram(name === undefined ? [] : [name]);
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
