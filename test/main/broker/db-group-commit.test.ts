/**
 * SQLite group commit (app/node/broker/db.ts): work queued in one turn shares one transaction, but each member keeps
 * the semantics of its own transaction — a throwing member rolls back only its own changes, the others commit; every
 * promise settles only once the group is durable (checked from a second connection); a failed COMMIT fails every
 * member.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../../../app/errors.ts';
import { openDb } from '../../../app/node/broker/db.ts';

async function withDb(fn: (db: Awaited<ReturnType<typeof openDb>>, path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mv-group-'));
  const path = join(dir, 'b.sqlite');
  const db = await openDb({ spec: path });
  try {
    await fn(db, path);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const committedNonces = (path: string): string[] => {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare('SELECT nonce FROM nonces ORDER BY nonce').all() as { nonce: string }[]).map((r) => r.nonce);
  } finally {
    other.close();
  }
};

test('members of one group: a throwing transaction is rolled back alone, the others commit', async () => {
  await withDb(async (db, path) => {
    const ins = (n: string): string => `INSERT INTO nonces (device_id, nonce, seen_at) VALUES ('d', '${n}', 1)`;
    // all queued in the same turn, so they run as one group
    const a = db.tx(async (q) => q.run(ins('a')));
    const b = db.tx(async (q) => {
      await q.run(ins('b1'));
      await q.run(ins('b2'));
      throw new AppError('POLICY_DENIED', 'denied on purpose');
    });
    const c = db.run(ins('c'));
    const dup = db.run(ins('a')); // violates the primary key: fails alone
    const seen = db.all("SELECT nonce FROM nonces WHERE device_id = 'd' ORDER BY nonce");
    const [ra, rb, rc, rdup, rseen] = await Promise.allSettled([a, b, c, dup, seen]);
    assert.deepEqual(ra, { status: 'fulfilled', value: 1 });
    assert.equal(rb.status, 'rejected');
    assert.equal(rb.status === 'rejected' && (rb.reason as AppError).code, 'POLICY_DENIED');
    assert.deepEqual(rc, { status: 'fulfilled', value: 1 });
    assert.equal(rdup.status === 'rejected' && (rdup.reason as AppError).code, 'ALREADY_EXISTS');
    // a read queued after the writes sees them (same group, in order)
    assert.deepEqual(rseen.status === 'fulfilled' && rseen.value.map((r) => r.nonce), ['a', 'c']);
    // and once the promises settled, another connection sees exactly the committed members
    assert.deepEqual(committedNonces(path), ['a', 'c']);
  });
});

test('a transaction function alone in its group is rolled back whole when it throws', async () => {
  await withDb(async (db, path) => {
    await assert.rejects(db.tx(async (q) => {
      await q.run("INSERT INTO nonces (device_id, nonce, seen_at) VALUES ('d', 'x1', 1)");
      throw new AppError('AUTH_FAILED', 'refused on purpose');
    }), (e: unknown) => (e as AppError).code === 'AUTH_FAILED');
    assert.deepEqual(committedNonces(path), []);
  });
});

test('a promise settles only after its group is committed (visible to another connection)', async () => {
  await withDb(async (db, path) => {
    const results = await Promise.all(Array.from({ length: 50 }, (_x, i) => db.run(`INSERT INTO nonces (device_id, nonce, seen_at) VALUES ('d', 'n${String(i).padStart(2, '0')}', 1)`).then((n) => ({ n, visible: committedNonces(path).includes(`n${String(i).padStart(2, '0')}`) }))));
    assert.ok(results.every((r) => r.n === 1 && r.visible));
    assert.equal(committedNonces(path).length, 50);
  });
});

test('a COMMIT that fails rejects every member of the group, none of its writes persist', async () => {
  await withDb(async (db, path) => {
    // A second connection holding a read transaction open on an old snapshot cannot block a WAL commit; a second
    // writer holding the write lock makes BEGIN IMMEDIATE fail once busy_timeout expires — too slow for a test. A
    // deferred foreign key violation fails exactly at COMMIT instead.
    await db.run('CREATE TABLE IF NOT EXISTS fk_parent (id TEXT PRIMARY KEY)');
    await db.run('CREATE TABLE IF NOT EXISTS fk_child (id TEXT PRIMARY KEY, parent TEXT REFERENCES fk_parent(id) DEFERRABLE INITIALLY DEFERRED)');
    const good = db.run("INSERT INTO nonces (device_id, nonce, seen_at) VALUES ('d', 'ok', 1)");
    const bad = db.run("INSERT INTO fk_child (id, parent) VALUES ('c1', 'missing')");
    const [rg, rbad] = await Promise.allSettled([good, bad]);
    assert.equal(rg.status, 'rejected');
    assert.equal(rbad.status, 'rejected');
    assert.equal(rg.status === 'rejected' && (rg.reason as AppError).code, 'IO_ERROR');
    assert.deepEqual(committedNonces(path), []);
    // the connection is usable afterwards
    assert.equal(await db.run("INSERT INTO nonces (device_id, nonce, seen_at) VALUES ('d', 'after', 1)"), 1);
    assert.deepEqual(committedNonces(path), ['after']);
  });
});
