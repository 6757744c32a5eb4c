import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { execInCgroup } from '../../cgroup/exec.js';
import { formatBytes } from '../../cgroup/size.js';
import { action } from '../common.js';
import { createWithLimits } from '../../cgroup/create.js';
import { SIZES_HELP, addLimitOptions, addParentOption, specFrom, target, type LimitOptions } from './options.js';

export function registerExec(group: Command): void {
  const cmd = group
    .command('exec <name> <command...>')
    .description('run a command inside a memory cgroup (created if missing), from its first instruction');
  addParentOption(addLimitOptions(cmd))
    .addHelpText(
      'after',
      `${SIZES_HELP}
Put -- before the command so its own flags are not read as oomwatch's.
Signals sent to oomwatch are passed on. Exits with the command's status (128+N
when it died of signal N). When the kernel's OOM killer kills it, oomwatch says so
on stderr, naming the cgroup and its limit, and exits 137.

Examples:
  oomwatch cgroup exec batch/job-7 --memory 512M -- ./build.sh --all
  oomwatch cgroup exec test/hog --memory 64M -- dd if=/dev/zero of=/dev/null bs=128M count=1`,
    )
    .action(
      action(async (name: string, argv: string[], opts: LimitOptions, c: Command) => {
        if (argv.length === 0) throw new UsageError('exec: no command given; usage: oomwatch cgroup exec NAME [limits] -- CMD [ARGS...]');
        const { backend, path } = target(name, opts, c);
        createWithLimits(backend, path, specFrom(opts, c));
        const r = await execInCgroup(backend, path, argv);
        if (r.killedByOom || r.oomKills > 0) {
          let limit = 'no limit';
          try {
            const s = backend.stats(path);
            limit = s.max === null ? 'no limit of its own' : `limit ${formatBytes(s.max)}`;
          } catch {
            // The cgroup vanished after the command ended; the kill itself is still worth reporting.
          }
          const who = r.killedByOom ? `${argv[0]} (pid ${r.pid}) was killed` : `${r.oomKills} process(es) were killed`;
          process.stderr.write(`oomwatch: ${who} by the kernel's OOM killer in cgroup ${path} (${limit}, cgroup v${backend.version})\n`);
        }
        return r.killedByOom ? 137 : r.status;
      }),
    );
}
