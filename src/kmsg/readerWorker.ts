/**
 * The worker thread behind {@link ../reader.ts}: reads an already open, non-blocking /dev/kmsg fd
 * with synchronous read()s and posts what it read to the main thread in batches.
 *
 * Why a worker polling a non-blocking fd (measured on Node 20, see bench/kmsg-reader-latency.ts):
 * a blocking read() cannot be interrupted from JavaScript (Worker.terminate() waits until the next
 * record arrives, possibly forever, and the process cannot exit meanwhile), and the kernel wakes
 * blocked readers only at the next timer tick anyway (kernel/printk/printk.c: wake_up_klogd_work is
 * IRQ_WORK_INIT_LAZY; HZ=250 here), while a record is readable the moment it is stored. So the worker drains the fd until EAGAIN, then sleeps
 * in Atomics.wait() for the poll interval; stop() and pause() change the shared control word and
 * notify, which ends the sleep at once.
 *
 * Protocol: readerProtocol.ts. Only this file touches the fd's read side.
 */
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CTL_IDLE_POLL_US, CTL_PAUSE, CTL_POLL_US, CTL_RUN, CTL_STATE, CTL_STOP, ITEM_EINVAL, ITEM_EPIPE, type WorkerInit, type WorkerItem, type WorkerMessage } from './readerProtocol.js';

// EAGAIN is thrown on every idle poll: stack traces would make each one several times dearer.
Error.stackTraceLimit = 0;

const init = workerData as WorkerInit;
if (parentPort === null) throw new Error('readerWorker.js must run as a worker thread');
const port = parentPort;
const ctl = new Int32Array(init.control);
// One read() returns one record; a buffer shorter than the record gives EINVAL and loses it.
// The kernel formats at most CONSOLE_EXT_LOG_MAX (8192) bytes per record: twice that is safe.
const buf = Buffer.allocUnsafe(init.bufferSize);

function post(m: WorkerMessage): void {
  port.postMessage(m);
}

type ReadResult = string | 'EAGAIN' | 'EPIPE' | 'EINVAL' | 'EOF';

function readOne(): ReadResult {
  let n: number;
  try {
    n = readSync(init.fd, buf, 0, buf.length, null);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    switch (code) {
      case 'EAGAIN':
      case 'EPIPE':
      case 'EINVAL':
        return code;
      case 'EINTR':
        return readOne();
      default:
        throw err;
    }
  }
  // /dev/kmsg never returns 0; a FIFO without a writer (tests) does: treat as "nothing now".
  if (n === 0) return 'EOF';
  // The kernel escapes every byte < 0x20 (but \n), >= 0x7f and '\' as \xNN: records are ASCII.
  return buf.toString('latin1', 0, n);
}

/** The SEQ field of a raw record, or undefined when the prefix is malformed. */
function seqOf(text: string): number | undefined {
  const c1 = text.indexOf(',');
  const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
  if (c2 < 0) return undefined;
  const raw = text.slice(c1 + 1, c2);
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

let items: WorkerItem[] = [];

function flush(): void {
  if (items.length === 0) return;
  post({ t: 'batch', items });
  items = [];
}

/**
 * Skip records before the start position. 'end': everything readable now (until EAGAIN); a number:
 * every record with SEQ <= it, the first later one is kept. EPIPE while skipping to the end is
 * irrelevant (those records were to be skipped); while skipping to a cursor it is kept, because the
 * records after the cursor may be among the lost.
 */
function position(): void {
  const skip = init.skip;
  let skipped = 0;
  let malformed = 0;
  let lastSeq: number | null = null;
  if (skip !== 'none') {
    for (;;) {
      if (Atomics.load(ctl, CTL_STATE) === CTL_STOP) break;
      const r = readOne();
      if (r === 'EAGAIN' || r === 'EOF') break;
      if (r === 'EPIPE') {
        if (skip !== 'end') items.push(ITEM_EPIPE);
        continue;
      }
      if (r === 'EINVAL') {
        if (skip !== 'end') items.push(ITEM_EINVAL);
        continue;
      }
      const seq = seqOf(r);
      if (seq === undefined) {
        malformed += 1;
        continue;
      }
      if (skip === 'end' || seq <= skip) {
        skipped += 1;
        lastSeq = seq;
        continue;
      }
      items.push(r);
      break;
    }
  }
  post({ t: 'positioned', skipped, lastSkippedSeq: lastSeq, malformed });
}

function run(): void {
  position();
  // When the last record was read: the log is busy in bursts (an OOM report is ~80 records, a storm
  // hundreds), so the worker polls at the short interval while records come and at the long one
  // once the log has been quiet for idleAfterMs. Each wakeup costs CPU (bench/README.md).
  let lastRecordAt = performance.now();
  for (;;) {
    const state = Atomics.load(ctl, CTL_STATE);
    if (state === CTL_STOP) break;
    if (state === CTL_PAUSE) {
      flush();
      post({ t: 'paused' });
      // Sleeps until resume() or stop() changes the word.
      Atomics.wait(ctl, CTL_STATE, CTL_PAUSE);
      continue;
    }
    const r = readOne();
    switch (r) {
      case 'EAGAIN':
      case 'EOF': {
        flush();
        const quiet = performance.now() - lastRecordAt >= init.idleAfterMs;
        Atomics.wait(ctl, CTL_STATE, CTL_RUN, Atomics.load(ctl, quiet ? CTL_IDLE_POLL_US : CTL_POLL_US) / 1000);
        break;
      }
      case 'EPIPE':
        items.push(ITEM_EPIPE);
        break;
      case 'EINVAL':
        // Our buffer was shorter than the record: the kernel has skipped it (seen as a SEQ gap).
        items.push(ITEM_EINVAL);
        break;
      default:
        items.push(r);
        lastRecordAt = performance.now();
        if (items.length >= init.batchMax) flush();
    }
  }
  flush();
}

try {
  run();
} catch (err) {
  flush();
  const e = err as NodeJS.ErrnoException;
  post({ t: 'fatal', code: typeof e.code === 'string' ? e.code : 'EIO', message: e.message ?? String(err) });
}
