import { lstatSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { isErrno } from '../errors.js';

export interface DiscoveryEvents {
  /**
   * A memory cgroup directory, in kernel path form (`/a/b`): `initial` when it existed at start,
   * else it was created while we watched.
   */
  onAdd(path: string, initial: boolean): void;
  onRemove(path: string): void;
  onError(err: unknown): void;
}

/**
 * Finds the memory cgroups below a hierarchy's mount and follows them as they come and go: one
 * inotify watch (fs.watch) per cgroup directory, whose create/delete events name the child
 * (cgroupfs raises them for mkdir/rmdir within a few ms; it never raises any for value
 * changes in the control files, which the poll loop reads anyway).
 *
 * Not chokidar: it lstat()s every control file of every cgroup (≈ 30 each) before it can ignore
 * them; at 1,000 cgroups that grew the daemon's RSS by ≈ 32 MB (glibc arenas of the threadpool,
 * not the JS heap) and at 10,000 it kept the daemon from serving for minutes (bench/README.md).
 * Here the tree is walked with readdir's d_type (kernfs fills it in), no stat at all.
 */
export class CgroupDiscovery {
  /** Watched directories by kernel path. */
  private readonly watchers = new Map<string, FSWatcher>();
  /** The watched children of each watched directory, so a removal finds its subtree at once. */
  private readonly kids = new Map<string, Set<string>>();
  private started = false;
  private stopped = false;

  constructor(
    private readonly mount: string,
    private readonly events: DiscoveryEvents,
  ) {}

  /** The kernel's name for a directory under the mount: `/` for the mount itself. */
  pathOf(dir: string): string {
    const rel = relative(this.mount, dir);
    return rel === '' ? '/' : `/${rel.split(sep).join('/')}`;
  }

  private dirOf(path: string): string {
    return path === '/' ? this.mount : join(this.mount, ...path.slice(1).split('/'));
  }

  /** Starts watching; resolves once the existing tree has been reported. */
  start(): Promise<void> {
    this.addTree('/', true);
    this.started = true;
    return Promise.resolve();
  }

  /**
   * Report and watch a directory and everything below it. The watch is set before the listing, so
   * a child created meanwhile is seen by one or the other (a double report is ignored: the path is
   * already in `watchers`).
   */
  private addTree(path: string, initial: boolean): void {
    if (this.stopped || this.watchers.has(path)) return;
    const dir = this.dirOf(path);
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true }, (_type, name) => {
        if (typeof name === 'string' && name !== '') this.onEntry(path, name);
      });
    } catch (err) {
      // Gone before we got to it (rmdir right after mkdir): nothing to report.
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      this.events.onError(err);
      return;
    }
    w.on('error', (err) => {
      // The directory was removed under the watch: the parent's event reports the removal.
      if (!isErrno(err, 'ENOENT', 'EPERM')) this.events.onError(err);
      this.unwatch(path);
    });
    this.watchers.set(path, w);
    this.kids.set(path, new Set());
    if (path !== '/') this.kids.get(parentOf(path))?.add(path);
    this.events.onAdd(path, initial);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.removeTree(path);
        return;
      }
      this.events.onError(err);
      return;
    }
    // Control files are files; sub-cgroups are the only directories. Symlinks are not followed.
    for (const e of entries) if (e.isDirectory()) this.addTree(path === '/' ? `/${e.name}` : `${path}/${e.name}`, initial);
  }

  /** A create or delete in a watched directory: look at what is there now. */
  private onEntry(parent: string, name: string): void {
    if (this.stopped) return;
    const path = parent === '/' ? `/${name}` : `${parent}/${name}`;
    let isDir: boolean;
    try {
      isDir = lstatSync(this.dirOf(path)).isDirectory();
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) {
        this.events.onError(err);
        return;
      }
      isDir = false;
    }
    if (isDir) this.addTree(path, !this.started);
    else this.removeTree(path);
  }

  private unwatch(path: string): void {
    this.watchers.get(path)?.close();
    this.watchers.delete(path);
  }

  /** Report a removed directory and everything below it (children first). */
  private removeTree(path: string): void {
    if (!this.watchers.has(path)) return;
    for (const k of this.kids.get(path) ?? []) this.removeTree(k);
    this.kids.delete(path);
    this.kids.get(parentOf(path))?.delete(path);
    this.unwatch(path);
    this.events.onRemove(path);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.kids.clear();
  }
}

/** `/a/b` → `/a`, `/a` → `/`; `/` has no parent (itself). */
function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
