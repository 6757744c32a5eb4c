import type { Command } from 'commander';
import { detectLayout } from '../cgroup/mode.js';
import { readProcCgroup } from '../cgroup/procCgroup.js';
import { action, printJson, rootsOf } from './common.js';

export function registerMode(program: Command): void {
  program
    .command('mode')
    .description('report whether this host runs cgroup v1, v2 or hybrid, and where the memory controller is')
    .option('--json', 'print JSON: {"mode", "memory": {"version", "mount"}, "unified", "self"}')
    .addHelpText(
      'after',
      `
Reads <proc-root>/self/mountinfo and <proc-root>/self/cgroup. Needs no privileges.
  v1      only cgroup v1 hierarchies carry controllers
  v2      a single cgroup2 hierarchy (every current distribution)
  hybrid  v1 controllers plus a cgroup2 mount (older systemd hosts)

Example:
  oomwatch mode --json`,
    )
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const roots = rootsOf(cmd);
        const layout = detectLayout(roots);
        const procCgroup = readProcCgroup(roots.proc);
        const selfMemory =
          layout.memory === null
            ? null
            : layout.memory.version === 1
              ? (procCgroup.find((e) => e.controllers.includes('memory'))?.path ?? null)
              : (procCgroup.find((e) => e.hierarchyId === 0)?.path ?? null);
        const out = {
          mode: layout.mode,
          memory:
            layout.memory === null ? null : { version: layout.memory.version, mount: layout.memory.mount },
          unified:
            layout.unified === null
              ? null
              : { mount: layout.unified.mount, controllers: layout.unified.controllers },
          v1: layout.v1.map((h) => ({ mount: h.mount, controllers: h.controllers })),
          self: { memory_cgroup: selfMemory },
        };
        if (opts.json) {
          printJson(out);
          return;
        }
        const lines = [`mode:            ${out.mode}`];
        if (out.memory === null) {
          lines.push('memory:          no hierarchy carries the memory controller');
        } else {
          lines.push(`memory:          cgroup v${out.memory.version} at ${out.memory.mount}`);
        }
        if (out.unified !== null) {
          lines.push(`cgroup2:         ${out.unified.mount} (controllers: ${out.unified.controllers.join(' ') || 'none'})`);
        }
        lines.push(`this process:    ${selfMemory ?? 'unknown'} (memory cgroup)`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
