/**
 * Upgrading a database made by schema version 1 (the broker's own audit format): opening it applies the later
 * migrations, keeps the old entries in `audit_v1`, starts a chain for every existing model and the broker chain, and
 * the first new entries verify. On SQLite and (with MV_PG_URL) PostgreSQL.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import pg from 'pg';
import { GENESIS_HASH } from '../../../app/audit/entry.ts';
import { openDb } from '../../../app/node/broker/db.ts';
import { MIGRATIONS } from '../../../app/node/broker/schema.ts';
import { verifyBrokerAudit } from '../../../app/node/broker/service.ts';
import { TARGETS, type DbTarget } from './helpers.ts';

const V1_ROWS = [
  "INSERT INTO identities (id, name, role, admin, created_at) VALUES ('usr_1', 'P', 'producer', 1, 1)",
  "INSERT INTO models (id, producer_id, name, alg, enc_kid, sign_pub, policy, manifest, mode, duration_s, device_limit, grace_s, created_at, updated_at) VALUES ('old-1', 'usr_1', 'Old', 'aes256gcm', NULL, 'x', 'package model', NULL, 'open', 1, 1, 1, 1, 1)",
  `INSERT INTO audit (seq, time, actor, action, object, model, result, details, prev, hash) VALUES (1, 't', 'usr_1', 'model.publish', 'old-1', 'old-1', 'allow', '', '${'0'.repeat(64)}', '${'1'.repeat(64)}')`,
];

async function makeV1(target: DbTarget, spec: string): Promise<void> {
  const v1 = MIGRATIONS.find((m) => m.version === 1);
  assert.ok(v1 !== undefined);
  const statements = ['CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)', ...v1.statements, 'INSERT INTO schema_migrations (version, applied_at) VALUES (1, 1)', ...V1_ROWS];
  if (target.name === 'sqlite') {
    const db = new Database(spec);
    try {
      for (const s of statements) db.exec(s);
    } finally {
      db.close();
    }
    return;
  }
  const c = new pg.Client({ connectionString: spec });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

for (const target of TARGETS) {
  describe(`broker schema upgrade (${target.name})`, () => {
    test('a version-1 database upgrades: old audit rows kept, chains started for the broker and every model', async () => {
      const fresh = await target.fresh();
      try {
        await makeV1(target, fresh.spec);
        const db = await openDb({ spec: fresh.spec });
        try {
          const versions = (await db.all('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
          assert.deepEqual(versions, MIGRATIONS.map((m) => m.version));
          assert.equal(Number((await db.get('SELECT COUNT(*) AS n FROM audit_v1'))?.n), 1);
          const chains = await db.all('SELECT chain, seq, hash FROM audit_chains ORDER BY chain');
          assert.deepEqual(chains.map((r) => [r.chain, Number(r.seq), r.hash]), [['broker', 0, GENESIS_HASH], ['model:old-1', 0, GENESIS_HASH]]);
          assert.ok((await db.get("SELECT v FROM broker_meta WHERE k = 'revocations.lock'")) !== undefined);
          const verdict = await verifyBrokerAudit(db);
          assert.equal(verdict.ok, true);
        } finally {
          await db.close();
        }
      } finally {
        await fresh.cleanup();
      }
    });
  });
}
