/**
 * The least a Node reader of /dev/kmsg can do, in bench/c/kmsg-floor.c's output format: one
 * blocking `readSync` per record (the device's ABI: one record per read), CLOCK_MONOTONIC at its
 * return, nothing else done with the record before the next read. Lines are written out when a
 * `Killed process` record comes (or every 200 records), not one write per record as the C reader
 * does: so it does less per record than the C reader, not more. Run by bench/kmsg-floors.ts as the
 * second reader of the same kills; root only (CAP_SYSLOG).
 *
 * Node cannot seek /dev/kmsg to its end (no lseek): it drains what is there through a non-blocking
 * fd, then skips those records on a blocking one, then says `ready`.
 */
import { constants, openSync, readSync, writeSync } from 'node:fs';

const buf = Buffer.allocUnsafe(8192);

function seqOf(record: string): number {
  const a = record.indexOf(',');
  return Number(record.slice(a + 1, record.indexOf(',', a + 1)));
}

/** One record, or undefined for EAGAIN; EPIPE (records overwritten before this read) and EINTR retried. */
function readRecord(fd: number): string | undefined {
  for (;;) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      return buf.toString('latin1', 0, buf[n - 1] === 10 ? n - 1 : n);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return undefined;
      if (code !== 'EPIPE' && code !== 'EINTR') throw err;
    }
  }
}

const drain = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
let last = -1;
for (let r = readRecord(drain); r !== undefined; r = readRecord(drain)) last = seqOf(r);
const fd = openSync('/dev/kmsg', constants.O_RDONLY);
if (last >= 0) while (seqOf(readRecord(fd) as string) < last);
writeSync(1, 'ready\n');
const pending: string[] = [];
for (;;) {
  const r = readRecord(fd) as string;
  const us = process.hrtime.bigint() / 1000n;
  pending.push(`${us}\t${r}\n`);
  if (r.includes('Killed process') || pending.length >= 200) {
    writeSync(1, pending.join(''));
    pending.length = 0;
  }
}
