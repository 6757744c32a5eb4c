import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { realKernel } from '../helpers/privileged.js';

const readerUrl = new URL('../../src/kmsg/reader.js', import.meta.url).href;

test('without CAP_SYSLOG, opening the reader fails with ENOTROOT and says why', realKernel(), (t) => {
  if (readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8').trim() !== '1') {
    if (process.env['CI'] === 'true') throw new Error('cannot run in CI: kernel.dmesg_restrict=0 lets unprivileged users read the kernel log');
    t.skip('kernel.dmesg_restrict=0: unprivileged users may read the kernel log here');
    return;
  }
  const script = `
    const { openKmsgReader } = await import(${JSON.stringify(readerUrl)});
    try {
      const r = await openKmsgReader({ roots: { kmsg: '/dev/kmsg', proc: '/proc' }, onEvents: () => {} });
      await r.stop();
      console.log(JSON.stringify({ opened: true }));
    } catch (err) {
      console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
    }`;
  // As nobody: the same process as root would succeed (the other tests show it).
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { name?: string; code?: string; message?: string; opened?: boolean };
  assert.equal(out.opened, undefined, 'nobody opened /dev/kmsg');
  assert.equal(out.name, 'KmsgPermissionError');
  assert.equal(out.code, 'ENOTROOT');
  assert.match(out.message ?? '', /^\/dev\/kmsg: E(PERM|ACCES): .*root or CAP_SYSLOG.*dmesg_restrict=1/);
});
