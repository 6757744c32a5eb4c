/**
 * The promstack helper works with the real programs, without oomwatch: Prometheus scrapes its
 * own /metrics every second, evaluates an always-firing rule from a temporary rule file, and
 * Alertmanager delivers that alert to the test's webhook with the rule's labels.
 * Everything listens on 127.0.0.1 and is stopped (by PID) in after(), also when a step fails.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startPromStack, requireTools, PROMETHEUS, ALERTMANAGER, type PromStack } from '../helpers/promstack.js';

const RULES = `groups:
  - name: promstack-selftest
    rules:
      - alert: PromstackSelfTest
        expr: up{job="self"} == 1
        labels:
          cgroup: /promstack/self-test
        annotations:
          description: 'Prometheus scrapes itself at {{ $labels.instance }}'
`;

describe('promstack: real Prometheus + Alertmanager + webhook on 127.0.0.1', { timeout: 120_000 }, () => {
  let stack: PromStack | undefined;
  after(async () => {
    await stack?.stop();
  });

  test('scrape, rule, Alertmanager, webhook', async (t) => {
    if (!requireTools(t, PROMETHEUS, ALERTMANAGER)) return;
    stack = await startPromStack({ job: 'self', ruleFiles: [{ name: 'selftest-rules.yml', text: RULES }] });
    const s = stack;
    for (const url of [s.prometheusUrl, s.alertmanagerUrl, s.webhookUrl]) assert.match(url, /^http:\/\/127\.0\.0\.1:\d+/);

    const up = await s.waitForQuery('up{job="self"}', (r) => r.length === 1, 30_000);
    assert.equal(up[0]?.value[1], '1');
    assert.equal(up[0]?.metric['instance'], s.prometheusUrl.replace('http://', ''));

    const rules = (await (await fetch(`${s.prometheusUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ name: string; rules: Array<{ name: string }> }> };
    };
    assert.deepEqual(rules.data.groups.map((g) => [g.name, g.rules.map((r) => r.name)]), [['promstack-selftest', ['PromstackSelfTest']]]);

    const alert = await s.waitForAlert((a) => a.labels['alertname'] === 'PromstackSelfTest', 60_000);
    assert.equal(alert.labels['cgroup'], '/promstack/self-test');
    assert.equal(alert.labels['job'], 'self');
    assert.equal(alert.annotations['description'], `Prometheus scrapes itself at ${up[0]?.metric['instance']}`);
    assert.equal(s.received.find((p) => p.alerts.includes(alert))?.receiver, 'test-webhook');
  });

  test('stop() ends both programs and removes the temporary folder', async (t) => {
    if (!requireTools(t, PROMETHEUS, ALERTMANAGER)) return;
    assert.ok(stack !== undefined, 'the stack from the first test');
    const s = stack;
    await s.stop();
    for (const url of [`${s.prometheusUrl}/-/ready`, `${s.alertmanagerUrl}/-/ready`]) {
      await assert.rejects(fetch(url, { signal: AbortSignal.timeout(2000) }), `${url} still answers`);
    }
    assert.equal(existsSync(s.dir), false);
    await s.stop(); // a second stop (after() does it again) is harmless
  });
});
