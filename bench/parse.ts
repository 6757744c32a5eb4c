/**
 * `parse_records_per_s`: throughput of the OOM parser (line detector + report state machine, the
 * code behind `oomwatch parse`) on raw /dev/kmsg records. Target ≥ 2.5 M records/s.
 *
 * Method: a 1M-record raw kmsg file is generated in a temp dir (removed after) like a busy host's
 * log: about 1% of the records are real OOM reports, the captures test/fixtures/oom/{k8s-cgroupfs,
 * k8s-systemd,odd-paths,systemd-service}.kmsg in turn (78–107 records each, SEQ, time and pid
 * renumbered; forged.kmsg is left out, storm.kmsg is one report after another), the rest ordinary
 * kernel lines. In process, file read included (64 KiB chunks, decoded: the feeder's text path,
 * as for standard input), node start-up excluded: one warm-up run, then the median of 5 (3 with
 * --quick). The same file fed as bytes (writeBytes, the path of `oomwatch parse FILE`) is timed
 * too, for the method only. Without --quick it also runs the CLI end to end
 * (`bin/oomwatch parse --json FILE`), best of 3, to show what start-up adds.
 *
 *   npm run build && node dist/bench/parse.js [--quick] [--records N]    (KEEP=DIR keeps the file)
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { KernelLogFeeder } from '../src/logfmt/feed.js';
import { OomReportParser } from '../src/oom/report.js';
import { median, report, spread, type BenchOutcome } from './lib/stats.js';

const TOP = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CAPTURES = ['k8s-cgroupfs', 'k8s-systemd', 'odd-paths', 'systemd-service'];
const FILLER = [
  '6,;eth0: renamed from veth3f2a1b0',
  '6,;IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready',
  '4,;audit: type=1400 audit(1700000000.123:42): apparmor="DENIED" operation="open" profile="snap.x"',
  '6,;cni0: port 3(veth1234abcd) entered forwarding state',
  '5,;EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.',
  '6,;usb 1-1: new high-speed USB device number 2 using xhci_hcd',
];

interface Capture {
  /** Records as [prio, flags and later fields, message] with the victim's pid replaced by `\0PID`. */
  readonly records: readonly [string, string, string][];
}

function loadCapture(name: string): Capture {
  const lines = readFileSync(join(TOP, 'test', 'fixtures', 'oom', `${name}.kmsg`), 'latin1').split('\n').filter(Boolean);
  const kill = lines.map((l) => /Killed process (\d+) /.exec(l)).find((m) => m !== null);
  if (kill == null) throw new Error(`${name}.kmsg has no Killed process record`);
  const pid = new RegExp(`\\b${kill[1]}\\b`, 'g');
  return {
    records: lines.map((l) => {
      const semi = l.indexOf(';');
      const fields = l.slice(0, semi).split(',');
      return [fields[0] as string, fields.slice(3).join(','), l.slice(semi + 1).replace(pid, '\0PID')];
    }),
  };
}

/** Write the generated log; returns the number of OOM reports in it. */
export function generateKmsgLog(file: string, total: number): { reports: number; reportRecords: number } {
  const captures = CAPTURES.map(loadCapture);
  const parts: string[] = [];
  let seq = 1;
  let reports = 0;
  let reportRecords = 0;
  while (seq <= total) {
    const c = captures[reports % captures.length] as Capture;
    if (seq % 10_000 === 1 && seq + c.records.length <= total) {
      const pid = String(100_000 + reports++);
      for (const [prio, rest, msg] of c.records) {
        parts.push(`${prio},${seq},${seq * 37},${rest};${msg.replaceAll('\0PID', pid)}`);
        seq++;
      }
      reportRecords += c.records.length;
      continue;
    }
    const f = FILLER[seq % FILLER.length] as string;
    parts.push(`${f.slice(0, f.indexOf(','))},${seq},${seq * 37},-;${f.slice(f.indexOf(';') + 1)}`);
    seq++;
  }
  writeFileSync(file, `${parts.join('\n')}\n`);
  return { reports, reportRecords };
}

/**
 * One in-process pass: file read in 64 KiB chunks into the feeder, decoded (write: standard input,
 * the text path) or as bytes (writeBytes: what `oomwatch parse FILE` does).
 */
function inProcess(file: string, bytes = false): { ms: number; kills: number } {
  let kills = 0;
  const parser = new OomReportParser({ onKill: () => kills++ });
  const feeder = new KernelLogFeeder(parser);
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(64 * 1024);
  const dec = new StringDecoder('utf8');
  feeder.begin(file);
  for (;;) {
    const got = readSync(fd, buf, 0, buf.length, null);
    if (got === 0) break;
    if (bytes) feeder.writeBytes(buf.subarray(0, got));
    else feeder.write(dec.write(buf.subarray(0, got)));
  }
  feeder.end();
  closeSync(fd);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, kills };
}

function cliMs(path: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(TOP, 'bin', 'oomwatch'), 'parse', '--json', path], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`oomwatch parse failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function benchParse(opts: { quick: boolean; records?: number }): BenchOutcome {
  const total = opts.records ?? 1_000_000;
  const runs = opts.quick ? 3 : 5;
  const dir = process.env['KEEP'] ?? mkdtempSync(join(tmpdir(), 'oomwatch-bench-'));
  const file = join(dir, 'kmsg.txt');
  try {
    const g0 = Date.now();
    const gen = generateKmsgLog(file, total);
    const genMs = Date.now() - g0;
    const warm = inProcess(file);
    if (warm.kills !== gen.reports) throw new Error(`parser found ${warm.kills} kills, the file has ${gen.reports}`);
    const ms = Array.from({ length: runs }, () => inProcess(file).ms);
    const rates = ms.map((m) => total / (m / 1000));
    const warmBytes = inProcess(file, true);
    if (warmBytes.kills !== gen.reports) throw new Error(`writeBytes found ${warmBytes.kills} kills, the file has ${gen.reports}`);
    const bytesMs = Array.from({ length: runs }, () => inProcess(file, true).ms);
    const method = [
      `generated ${total} raw kmsg records in ${genMs} ms: ${gen.reports} real OOM reports (${((gen.reportRecords / total) * 100).toFixed(2)}% of records) from ${CAPTURES.join(', ')}`,
      `in process, file read in 64 KiB chunks included, start-up excluded; 1 warm-up run (kills found ${warm.kills}/${gen.reports}), ${runs} runs`,
      `time per run: median ${median(ms).toFixed(0)} ms (${spread(ms, 0)}); records/s: median ${(median(rates) / 1e6).toFixed(2)} M (${spread(rates.map((r) => r / 1e6))} M)`,
      `the same file fed as bytes (writeBytes, as \`oomwatch parse FILE\` reads it; not the key): median ${median(bytesMs).toFixed(0)} ms (${spread(bytesMs, 0)}) = ${(total / median(bytesMs) / 1000).toFixed(2)} M records/s`,
    ];
    if (!opts.quick) {
      const empty = join(dir, 'empty.txt');
      writeFileSync(empty, '');
      const startup = Math.min(...[1, 2, 3].map(() => cliMs(empty)));
      const cli = Math.min(...[1, 2, 3].map(() => cliMs(file)));
      method.push(`CLI end to end (bin/oomwatch parse --json FILE), best of 3: ${cli.toFixed(0)} ms = ${(total / cli / 1000).toFixed(2)} M records/s; node start-up + module loading (empty file) ${startup.toFixed(0)} ms`);
    }
    return { values: { parse_records_per_s: Math.round(median(rates)) }, method };
  } finally {
    if (process.env['KEEP'] === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--records');
  report('parse_records_per_s', benchParse({ quick: args.includes('--quick'), ...(i >= 0 ? { records: Number(args[i + 1]) } : {}) }));
}
