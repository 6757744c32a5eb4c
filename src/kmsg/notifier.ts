/**
 * Being woken by the kernel when /dev/kmsg has a new record, without polling and without a thread.
 *
 * /dev/kmsg supports poll(2) (kernel/printk/printk.c: devkmsg_poll), so libuv's epoll loop can wait
 * on it, but Node has no public way to put an arbitrary fd there: `net.Socket({ fd })` and
 * `tty.ReadStream` refuse a character device, `fs.watch` fires only for userspace writes, a blocking
 * read() holds a thread that nothing can interrupt (`fs.createReadStream('/dev/kmsg')` keeps a libuv
 * pool thread while blocked and never finishes `destroy()`). libuv's pipe handle, though, is a
 * plain fd stream that does not check the fd's type: wrapped around its own fd of /dev/kmsg, it is
 * woken by the kernel like any blocked reader (at the next timer tick: wake_up_klogd_work is lazy
 * irq_work) and costs nothing while the log is quiet.
 *
 * The handle comes from `process.binding('pipe_wrap')`, an internal binding that Node 20 (the version
 * this project pins) still exposes, deprecated in the documentation only (DEP0111; a warning with
 * --pending-deprecation). If it is missing or refuses the fd, the reader polls instead (reader.ts)
 * and says so; test/real/kmsg-reader.test.ts fails if it does on /dev/kmsg.
 *
 * The notifier only says "something was logged", and the SEQ of the record it read: it reads (and
 * drops) records on its own fd, so its position is independent of the reader's, which reads its
 * records with read() on a non-blocking fd exactly as a polling reader does. The reader usually
 * drains a whole report on the first wakeup and the notifier then reads the same records one by
 * one: with their SEQ it can tell those wakeups from news without a read() (one that gets EAGAIN
 * costs ≈ 10 µs, the error is thrown).
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { Socket } from 'node:net';

interface PipeHandle {
  open(fd: number): number;
}
interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

function pipeWrap(): PipeWrap | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('pipe_wrap') as Partial<PipeWrap>;
    return typeof binding.Pipe === 'function' && typeof binding.constants?.SOCKET === 'number' ? (binding as PipeWrap) : undefined;
  } catch {
    return undefined; // a Node without the binding: the reader polls
  }
}

/** Read and drop everything readable now on a non-blocking fd (EPIPE: the oldest record follows). */
function skipToEnd(fd: number): void {
  const buf = Buffer.allocUnsafe(16384);
  for (let guard = 0; guard < 1_000_000; guard++) {
    try {
      readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return;
      if (code !== 'EPIPE' && code !== 'EINVAL' && code !== 'EINTR') throw err;
    }
  }
}

export interface KmsgNotifier {
  /** Stop being woken; closes the notifier's fd. Idempotent. */
  close(): void;
}

/**
 * The SEQ of the record at the start of `chunk` (`PRIO,SEQ,...`, Documentation/ABI/testing/dev-kmsg),
 * or -1 when it does not start like one. Pure; reads the bytes in place.
 */
export function chunkSeq(chunk: Uint8Array): number {
  let i = 0;
  while (i < chunk.length && i < 4 && chunk[i]! >= 48 && chunk[i]! <= 57) i++;
  if (i === 0 || chunk[i] !== 44 /* , */) return -1;
  const start = ++i;
  let seq = 0;
  // 16 digits at most: 2^53 has 16, so the sum stays exact.
  while (i < chunk.length && i - start < 16 && chunk[i]! >= 48 && chunk[i]! <= 57) seq = seq * 10 + (chunk[i++]! - 48);
  return i > start && chunk[i] === 44 ? seq : -1;
}

export interface NotifierHandlers {
  /**
   * Something was logged since the last call (or the notifier restarted): drain the reader. `seq`
   * is the SEQ of the record the notifier read, -1 when unknown (drain in any case then).
   */
  readonly onWake: (seq: number) => void;
  /** The notifier failed (e.g. EPIPE: it fell 128 KiB behind while the event loop was blocked). */
  readonly onError: (err: Error) => void;
}

/**
 * Open a notifier on `path` (a /dev/kmsg-like character device), positioned after the last record
 * logged so far. Returns undefined when this Node cannot put the fd in its event loop; throws when
 * the device cannot be opened.
 */
export function openKmsgNotifier(path: string, h: NotifierHandlers): KmsgNotifier | undefined {
  const wrap = pipeWrap();
  if (wrap === undefined) return undefined;
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let socket: Socket;
  try {
    skipToEnd(fd);
    const handle = new wrap.Pipe(wrap.constants.SOCKET);
    if (handle.open(fd) !== 0) {
      closeSync(fd);
      return undefined;
    }
    // From here the socket owns the fd and closes it on destroy().
    socket = new Socket({ handle, readable: true, writable: false } as ConstructorParameters<typeof Socket>[0]);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let closed = false;
  socket.on('data', (chunk: Buffer) => h.onWake(chunkSeq(chunk)));
  const fail = (err: Error): void => {
    if (closed) return;
    closed = true;
    socket.destroy();
    h.onError(err);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error(`${path}: the notifier's stream closed`)));
  return {
    close: () => {
      if (closed) return;
      closed = true;
      socket.destroy();
    },
  };
}
