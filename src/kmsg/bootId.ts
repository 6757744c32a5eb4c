import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ParseError } from '../errors.js';
import type { Roots } from '../roots.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a boot id as the kernel prints it: a lowercase UUID. */
export function isBootId(s: string): boolean {
  return UUID.test(s);
}

/**
 * Parse `/proc/sys/kernel/random/boot_id`: a random UUID the kernel draws once per boot
 * (Documentation/admin-guide/sysctl/kernel.rst, "random"). Pure.
 */
export function parseBootId(text: string, source = '/proc/sys/kernel/random/boot_id'): string {
  const id = text.trim();
  if (!isBootId(id)) throw new ParseError(source, `not a boot id: ${JSON.stringify(text.slice(0, 80))}`);
  return id;
}

/** Read this boot's id from `<proc>/sys/kernel/random/boot_id`. */
export function readBootId(roots: Pick<Roots, 'proc'>): string {
  const file = join(roots.proc, 'sys/kernel/random/boot_id');
  return parseBootId(readFileSync(file, 'utf8'), file);
}
