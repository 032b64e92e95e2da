/** The broker demo step (for `model-vault demo`): producer → subscriber → key release on an embedded broker. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBrokerDemo } from '../../../app/node/broker/demo.ts';

test('the broker demo goes producer → subscriber → key release and opens the model', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-demo-broker-'));
  try {
    const lines: string[] = [];
    const r = await runBrokerDemo(dir, (l) => lines.push(l));
    assert.equal(r.tensorsVerified, 1);
    assert.equal(r.syncedHeaders, 1);
    assert.match(r.keyKid, /^sub-sub_/);
    assert.match(r.brokerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(lines.length >= 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
