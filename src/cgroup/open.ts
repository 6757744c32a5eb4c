import { OomwatchError } from '../errors.js';
import type { Roots } from '../roots.js';
import type { MemoryBackend } from './backend.js';
import { detectLayout, type CgroupLayout } from './mode.js';
import { V1MemoryBackend } from './v1/backend.js';
import { V2MemoryBackend } from './v2/backend.js';

/** The backend for whichever hierarchy holds the memory controller on this host. */
export function backendFor(layout: CgroupLayout): MemoryBackend {
  if (layout.memory === null) {
    throw new OomwatchError(
      'ENOMEMCG',
      'no cgroup hierarchy carries the memory controller on this host (see `oomwatch mode`); is CONFIG_MEMCG on and the controller not disabled (cgroup_disable=memory)?',
    );
  }
  return layout.memory.version === 1 ? new V1MemoryBackend(layout.memory.mount) : new V2MemoryBackend(layout.memory.mount);
}

export function openMemoryBackend(roots: Roots): MemoryBackend {
  return backendFor(detectLayout(roots));
}
