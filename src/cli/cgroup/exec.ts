import type { Command, ParseOptionsResult } from 'commander';
import { UsageError } from '../../errors.js';
import { runInCgroup } from '../../cgroup/exec.js';
import { formatBytes } from '../../cgroup/size.js';
import { action } from '../common.js';
import { SIZES_HELP, addLimitOptions, addParentOption, specFrom, target, type LimitOptions } from './options.js';

/** A word as a shell reads it back: bare when it is plain, else in single quotes. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/**
 * Without `--`, commander takes the command's own options for oomwatch's and stops at the first
 * one it does not know (`grep -c` → "unknown option '-c'"). This wraps the command's option
 * parser so that case is remembered, not reported: the action, which then has the NAME and the
 * whole command, refuses it with the command line that works. Help flags keep their meaning.
 */
function catchStrayOptions(cmd: Command): () => { flag: string; ownOptions: string[] } | undefined {
  let stray: { flag: string; ownOptions: string[] } | undefined;
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]): ParseOptionsResult => {
    const r = parse(args);
    const flag = r.unknown[0];
    if (flag === undefined || flag === '-h' || flag === '--help') return r;
    // Everything from the first unknown option on is in r.unknown; before it, oomwatch's own
    // options and their values are what is not an operand.
    const before = args.slice(0, args.length - r.unknown.length);
    const operands = [...r.operands];
    const ownOptions = before.filter((a) => (a === operands[0] ? (operands.shift(), false) : true));
    stray = { flag, ownOptions };
    return { operands: [...r.operands, ...r.unknown], unknown: [] };
  };
  return () => stray;
}

export function registerExec(group: Command): void {
  const cmd = group
    .command('exec <name> <command...>')
    .description('run a command inside a memory cgroup (created if missing), from its first instruction');
  const strayOption = catchStrayOptions(cmd);
  addParentOption(addLimitOptions(cmd))
    .addHelpText(
      'after',
      `${SIZES_HELP}
Put -- before the command so its own flags are not read as oomwatch's.
Signals sent to oomwatch are passed on. Exits with the command's status (128+N
when it died of signal N). When the kernel's OOM killer kills it, oomwatch says so
on stderr, naming the cgroup and its limit, and exits 137. A command that cannot
be found exits 127 (126: not executable), and a cgroup created for it is removed.

Examples:
  oomwatch cgroup exec batch/job-7 --memory 512M -- ./build.sh --all
  oomwatch cgroup exec test/hog --memory 64M -- dd if=/dev/zero of=/dev/null bs=128M count=1`,
    )
    .action(
      action(async (name: string, argv: string[], opts: LimitOptions, c: Command) => {
        const stray = strayOption();
        if (stray !== undefined) {
          const fixed = ['oomwatch', 'cgroup', 'exec', name, ...stray.ownOptions, '--', ...argv].map(shellWord).join(' ');
          throw new UsageError(`cgroup exec: unknown option '${stray.flag}' — put -- before the command: ${fixed}`);
        }
        const { backend, path } = target(name, opts, c);
        const r = await runInCgroup(backend, path, specFrom(opts, c), argv, process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin');
        if (r.killedByOom || r.oomKills > 0) {
          let limit = 'no limit';
          try {
            const s = backend.stats(path);
            limit = s.max === null ? 'no limit of its own' : `limit ${formatBytes(s.max)}`;
          } catch {
            // The cgroup vanished after the command ended; the kill itself is still worth reporting.
          }
          const who = r.killedByOom ? `${argv[0] ?? ''} (pid ${r.pid}) was killed` : `${r.oomKills} process(es) were killed`;
          process.stderr.write(`oomwatch: ${who} by the kernel's OOM killer in cgroup ${path} (${limit}, cgroup v${backend.version})\n`);
        }
        return r.killedByOom ? 137 : r.status;
      }),
    );
}
