/**
 * Several broker instances on one PostgreSQL database (README §9, §3): concurrent decisions through both instances
 * append to the same chains without forking them (every chain verifies, nothing is lost), and the rate limit is
 * shared (the fixed-window counter in the database), so a second instance does not double an identity's budget.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '../../../app/errors.ts';
import { chainOf } from '../../../app/broker/audit-chain.ts';
import { readAuditChain, verifyBrokerAudit } from '../../../app/node/broker/service.ts';
import {
  PG_SKIP_REASON, clientFor, enrollProducer, enrollSubscriber, headersMap, makeModel, pgTarget, publish, startTestBroker, testKek,
} from './helpers.ts';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isAppError(e) && e.code === code);
}

describe('two broker instances on one PostgreSQL', { skip: pgTarget === undefined ? PG_SKIP_REASON : false }, () => {
  test('concurrent decisions through both instances never fork an audit chain', { timeout: 180_000 }, async () => {
    const fresh = await (pgTarget as NonNullable<typeof pgTarget>).fresh();
    const kek = testKek();
    const a = await startTestBroker(fresh.spec, { kek });
    const b = await startTestBroker(fresh.spec, { kek });
    try {
      const s = await enrollProducer(a);
      const model = makeModel();
      await publish(s, 'shared-1', model, { deviceLimit: 1 });
      const ROUNDS = 6;
      const subs = await Promise.all([0, 1, 2, 3].map(async (i) => {
        const sub = await enrollSubscriber((i % 2 === 0 ? a : b).url, `Sub ${i}`);
        await sub.client.subscribe('shared-1');
        return { sub, viaA: clientFor(a.url, sub.device), viaB: clientFor(b.url, sub.device) };
      }));
      let releases = 0;
      await Promise.all(subs.map(async ({ sub, viaA, viaB }) => {
        let headers = headersMap(model);
        for (let r = 0; r < ROUNDS; r++) {
          const client = r % 2 === 0 ? viaA : viaB;
          const k = await client.releaseKey('shared-1', headers, { os: 'linux' }, sub.device.box);
          headers = new Map([...headers, ...k.synced]);
          releases++;
          // a denial for a model that does not exist: the broker chain, from both instances
          await rejects(client.releaseKey('no-such-model', headers, {}, sub.device.box), 'LICENCE_INVALID');
        }
      }));
      const db = a.server.service.db;
      const verdict = await verifyBrokerAudit(db, { brokerSignPub: s.brokerSignPub });
      assert.equal(verdict.ok, true, verdict.ok ? '' : verdict.problem);
      const entries = [];
      for await (const e of readAuditChain(db)) entries.push(e);
      const okReleases = entries.filter((e) => chainOf(e) === 'model:shared-1' && e.action === 'release.key' && e.result === 'ok' && e.details?.outcome === undefined);
      assert.equal(okReleases.length, releases);
      const strays = entries.filter((e) => chainOf(e) === 'broker' && e.details?.requestedModel === 'no-such-model');
      assert.equal(strays.length, subs.length * ROUNDS);
      // the checkpoints of both instances are signed by the one broker key
      assert.ok(verdict.ok && verdict.chains.every((c) => c.unsignedTail < 64));
    } finally {
      await a.close();
      await b.close();
      await fresh.cleanup();
    }
  });

  test('the rate limit is shared: a second instance does not double an identity’s budget', { timeout: 60_000 }, async () => {
    const fresh = await (pgTarget as NonNullable<typeof pgTarget>).fresh();
    const kek = testKek();
    const a = await startTestBroker(fresh.spec, { kek, ratePerSecond: 0.001, rateBurst: 4 });
    const b = await startTestBroker(fresh.spec, { kek, ratePerSecond: 0.001, rateBurst: 4 });
    try {
      const sub = await enrollSubscriber(a.url, 'Flood');
      const viaB = clientFor(b.url, sub.device);
      await sub.client.sync();
      await viaB.sync();
      await sub.client.sync();
      await viaB.sync();
      await rejects(viaB.sync(), 'RATE_LIMITED');
      await rejects(sub.client.sync(), 'RATE_LIMITED');
    } finally {
      await a.close();
      await b.close();
      await fresh.cleanup();
    }
  });
});
