/**
 * Throughput of `oomwatch parse` on raw /dev/kmsg records (target ≥ 2.5 M records/s).
 * Method: build a 1M-record raw file like a busy host's log: ~1% of the records are real OOM
 * reports (the k8s-systemd capture, ~97 records each, with renumbered SEQ and time), the rest
 * ordinary kernel lines; then (1) the line detector + state machine in-process over the file
 * read in 64 KiB chunks, best of 5; (2) the CLI end to end (`bin/oomwatch parse --json FILE`),
 * best of 3, and the same on an empty file to show what node's start-up costs.
 * KEEP=DIR keeps the generated file in DIR.
 * Usage: npm run build && node dist/bench/parse.js [records]
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { KernelLogFeeder } from '../src/logfmt/feed.js';
import { OomReportParser } from '../src/oom/report.js';

const top = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const total = Number(process.argv[2] ?? 1_000_000);
const report = readFileSync(join(top, 'test', 'fixtures', 'oom', 'k8s-systemd.kmsg'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => l.slice(l.indexOf(';') + 1).replace(/5736/g, 'PID'));
const filler = [
  '6,;eth0: renamed from veth3f2a1b0',
  '6,;IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready',
  '4,;audit: type=1400 audit(1700000000.123:42): apparmor="DENIED" operation="open" profile="snap.x"',
  '6,;cni0: port 3(veth1234abcd) entered forwarding state',
  '5,;EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.',
  '6,;usb 1-1: new high-speed USB device number 2 using xhci_hcd',
];
const dir = process.env.KEEP ?? mkdtempSync(join(tmpdir(), 'oomwatch-bench-'));
const file = join(dir, 'kmsg.txt');
const parts: string[] = [];
let seq = 1;
let kills = 0;
while (seq <= total) {
  if (seq % 10_000 === 1 && seq + report.length <= total) {
    const pid = 10_000 + kills++;
    for (let i = 0; i < report.length; i++) {
      const msg = (report[i] as string).replace(/PID/g, String(pid));
      const prio = msg.startsWith('Memory cgroup out of memory: Killed') ? 3 : msg.includes('invoked oom-killer') ? 4 : 6;
      parts.push(`${prio},${seq},${seq * 37},-;${msg}`);
      seq++;
    }
    continue;
  }
  const f = filler[seq % filler.length] as string;
  parts.push(`${f.slice(0, f.indexOf(','))},${seq},${seq * 37},-;${f.slice(f.indexOf(';') + 1)}`);
  seq++;
}
writeFileSync(file, `${parts.join('\n')}\n`);
parts.length = 0;

function inProcess(): { ms: number; kills: number } {
  let n = 0;
  const parser = new OomReportParser({ onKill: () => n++ });
  const feeder = new KernelLogFeeder(parser);
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(64 * 1024);
  const dec = new StringDecoder('utf8');
  feeder.begin(file);
  for (;;) {
    const got = readSync(fd, buf, 0, buf.length, null);
    if (got === 0) break;
    feeder.write(dec.write(buf.subarray(0, got)));
  }
  feeder.end();
  closeSync(fd);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, kills: n };
}

const runs = [1, 2, 3, 4, 5].map(() => inProcess());
const best = Math.min(...runs.map((r) => r.ms));
console.log(`records: ${total}, OOM reports: ${kills} (${((kills * report.length) / total * 100).toFixed(1)}% of records)`);
console.log(`in-process (detect + state machine, 64 KiB chunks): best ${best.toFixed(0)} ms = ${(total / best / 1000).toFixed(2)} M records/s; kills found ${runs[0]?.kills}`);
function cliMs(path: string): { ms: number; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(top, 'bin', 'oomwatch'), 'parse', '--json', path], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, stderr: r.stderr };
}
const empty = join(dir, 'empty.txt');
writeFileSync(empty, '');
const startup = Math.min(...[1, 2, 3].map(() => cliMs(empty).ms));
const cli = [1, 2, 3].map(() => cliMs(file));
const cliBest = Math.min(...cli.map((c) => c.ms));
console.log(`CLI end to end (bin/oomwatch parse --json FILE > pipe), best of 3: ${cliBest.toFixed(0)} ms = ${(total / cliBest / 1000).toFixed(2)} M records/s`);
console.log(`  of which node start-up and module loading (same command on an empty file): ${startup.toFixed(0)} ms; without it ${(total / (cliBest - startup) / 1000).toFixed(2)} M records/s`);
console.log(`  ${cli[0]?.stderr.trim().split('\n')[0]}`);
if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
