/**
 * Node's compile cache (Node 22.1 and later): the bytecode of oomwatch's modules kept on disk, so
 * that a command does not compile them again. Enabled by bin/oomwatch before anything else loads.
 *
 * Where: `$XDG_CACHE_HOME/oomwatch/compile-cache`, else `$HOME/.cache/oomwatch/compile-cache`:
 * the user's own, never a shared directory such as /tmp (bytecode another user could plant there
 * would run as whoever runs oomwatch next). Node keys each entry by the module's path and content
 * and keeps one subdirectory per Node version, so a read-only install (the .deb, the release
 * tarball) caches in the user's directory like a checkout does. Nothing is cached when there is no
 * such home, or it belongs to another user (`sudo` keeping the caller's HOME: root would leave its
 * files there), or the directory cannot be made: the systemd unit's daemon has no HOME (and
 * ProtectHome=), so it runs without. It never fails the command: every error means no cache.
 * NODE_COMPILE_CACHE (another directory) and NODE_DISABLE_COMPILE_CACHE=1 work as Node documents.
 */
import { mkdirSync, statSync } from 'node:fs';
import module from 'node:module';
import { isAbsolute, join } from 'node:path';

/**
 * The directory to cache in, created here one level at a time (never `recursive`: Node's recursive
 * mkdir loops forever where mkdir answers ENOENT under an existing directory, as in /proc), or null.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv, uid: number): string | null {
  const xdg = env['XDG_CACHE_HOME'];
  const home = env['HOME'];
  let base: string;
  let levels: string[];
  if (xdg !== undefined && isAbsolute(xdg)) {
    base = xdg;
    levels = ['oomwatch', 'compile-cache'];
  } else if (home !== undefined && isAbsolute(home)) {
    base = home;
    levels = ['.cache', 'oomwatch', 'compile-cache'];
  } else {
    return null;
  }
  try {
    if (!ownDir(base, uid)) return null;
    let dir = base;
    for (const level of levels) {
      dir = join(dir, level);
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
      }
      if (!ownDir(dir, uid)) return null;
    }
    return dir;
  } catch {
    return null;
  }
}

function ownDir(path: string, uid: number): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.uid === uid;
}

/** Turn the cache on where this Node has one and a directory is found; otherwise do nothing. */
export function enableCompileCache(): void {
  const enable = (module as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (enable === undefined || process.env['NODE_COMPILE_CACHE'] !== undefined || typeof process.getuid !== 'function') return;
  const dir = compileCacheDir(process.env, process.getuid());
  if (dir === null) return;
  try {
    // Failures come back as a status (no directory, no permission), not as exceptions.
    enable(dir);
  } catch {
    // No cache, same command.
  }
}
