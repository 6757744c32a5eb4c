import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListenError, listenHttp } from '../../src/daemon/server.js';

test('the listener answers 503 until it is given its handlers, then serves them', async () => {
  const s = await listenHttp({ host: '127.0.0.1', port: 0 });
  try {
    const early = await fetch(`${s.url}/metrics`);
    assert.equal(early.status, 503);
    assert.equal(await early.text(), 'oomwatch is starting: not serving yet\n');
    assert.equal((await fetch(`${s.url}/healthz`)).status, 503);
    assert.equal((await fetch(`${s.url}/other`)).status, 404);
    s.serve({ metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }), health: () => ({ status: 'ok' }) });
    assert.equal(await (await fetch(`${s.url}/metrics`)).text(), 'm 1\n');
    assert.deepEqual(await (await fetch(`${s.url}/healthz`)).json(), { status: 'ok' });
  } finally {
    await s.close();
  }
});

test('an address in use is a ListenError (exit 1) naming the address and the fix', async () => {
  const a = await listenHttp({ host: '127.0.0.1', port: 0 });
  try {
    await assert.rejects(listenHttp({ host: '127.0.0.1', port: a.address.port }), (err: unknown) =>
      err instanceof ListenError && err.code === 'EBUSY' && err.exitCode === 1 && err.message.startsWith(`cannot listen on 127.0.0.1:${a.address.port}: the address is in use`) && /--listen/.test(err.message));
  } finally {
    await a.close();
  }
});
