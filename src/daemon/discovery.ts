import { relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

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
 * Finds the memory cgroups below a hierarchy's mount and follows them as they come and go.
 * chokidar's inotify watches see new and removed cgroup directories on cgroupfs within a few ms
 * (FACTS); they never see value changes in the control files, which the poll loop reads anyway.
 * Files are ignored as soon as chokidar has their stats, so only directories are watched.
 */
export class CgroupDiscovery {
  private watcher: FSWatcher | null = null;
  private ready = false;

  constructor(
    private readonly mount: string,
    private readonly events: DiscoveryEvents,
  ) {}

  /** The kernel's name for a directory under the mount: `/` for the mount itself. */
  pathOf(dir: string): string {
    const rel = relative(this.mount, dir);
    return rel === '' ? '/' : `/${rel.split(sep).join('/')}`;
  }

  /** Starts watching; resolves once the existing tree has been reported. */
  start(): Promise<void> {
    const w = watch(this.mount, {
      persistent: true,
      followSymlinks: false,
      ignored: (_p, stats) => stats?.isFile() ?? false,
      alwaysStat: false,
    });
    this.watcher = w;
    w.on('addDir', (dir) => this.events.onAdd(this.pathOf(dir), !this.ready));
    w.on('unlinkDir', (dir) => this.events.onRemove(this.pathOf(dir)));
    w.on('error', (err) => this.events.onError(err));
    return new Promise((resolve) =>
      w.once('ready', () => {
        this.ready = true;
        resolve();
      }),
    );
  }

  async stop(): Promise<void> {
    await this.watcher?.close();
    this.watcher = null;
  }
}
