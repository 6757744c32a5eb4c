import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels above dist/src/). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const v = (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string });
      if (v.name === 'oomwatch' && typeof v.version === 'string') return v.version;
    } catch {
      // Not at this depth: try the next.
    }
  }
  return 'unknown';
}

export const VERSION = packageVersion();
