/**
 * `model-vault broker audit --db … --verify` runs the broker's own verifier (`verifyBrokerAudit`): besides hashes,
 * links and checkpoint signatures it checks each chain's recorded head, so a deleted tail (which still links) is
 * reported, and an entry moved into another chain is reported. Real broker on 127.0.0.1 with SQLite.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../../app/crypto/random.ts';
import { toB64url } from '../../../app/crypto/encoding.ts';
import { parseArgs } from '../../../app/node/cli/args.ts';
import { commands } from '../../../app/node/cli/broker.ts';
import { EXIT } from '../../../app/node/cli/types.ts';
import { openDb } from '../../../app/node/broker/db.ts';
import { parseKekText } from '../../../app/node/broker/kek.ts';
import { startBroker } from '../../../app/node/broker/start.ts';
import { BOOTSTRAP } from './helpers.ts';

async function cli(home: string, argv: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const args = parseArgs(argv);
  const words = args.positionals.slice(0, 2).join(' ');
  const cmd = commands.find((c) => c.words.join(' ') === words);
  assert.ok(cmd !== undefined, `no command ${words}`);
  let out = '';
  const code = await cmd.run({ ...args, positionals: args.positionals.slice(2) }, {
    out: (t) => (out += t + '\n'), err: () => undefined, json: true, isTty: false, env: { MODEL_VAULT_HOME: home, MODEL_VAULT_PASSPHRASE: 'device keystore pw', MODEL_VAULT_SCRYPT_LOG_N: '10', MODEL_VAULT_STORE: 'file' }, cwd: home,
  });
  return { code, json: JSON.parse(out) as Record<string, unknown> };
}

test('broker audit --db --verify: a clean database verifies; a deleted tail and a moved entry are reported', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mv-audit-cli-'));
  const dbPath = join(dir, 'broker.sqlite');
  writeFileSync(join(dir, 'bootstrap'), BOOTSTRAP);
  const broker = await startBroker({ dbSpec: dbPath, kek: parseKekText(toB64url(randomBytes(32))), bootstrapSecret: BOOTSTRAP });
  try {
    const e1 = await cli(dir, ['broker', 'enroll', '--broker', broker.url, '--name', 'Acme', '--role', 'producer', '--bootstrap-file', join(dir, 'bootstrap'), '--profile', join(dir, 'producer.json'), '--json']);
    assert.equal(e1.code, 0);
    const e2 = await cli(dir, ['broker', 'enroll', '--broker', broker.url, '--name', 'Bob', '--role', 'subscriber', '--profile', join(dir, 'subscriber.json'), '--json']);
    assert.equal(e2.code, 0);
  } finally {
    await broker.close();
  }
  try {
    const clean = await cli(dir, ['broker', 'audit', '--db', dbPath, '--verify', '--json']);
    assert.equal(clean.code, EXIT.OK, JSON.stringify(clean.json));
    assert.ok((clean.json.entries as number) >= 2, 'the enrollments are in the broker chain');
    assert.ok((clean.json.chains as number) >= 1);

    // Delete the broker chain's last entry: the remaining entries still link, only the recorded head shows it.
    const db = await openDb({ spec: dbPath });
    const last = await db.all("SELECT seq, line FROM audit_entries WHERE chain = 'broker' ORDER BY seq DESC LIMIT 1");
    const lastSeq = Number(last[0]?.seq);
    const lastLine = String(last[0]?.line);
    await db.run("DELETE FROM audit_entries WHERE chain = 'broker' AND seq = ?", [lastSeq]);
    await db.close();
    const truncated = await cli(dir, ['broker', 'audit', '--db', dbPath, '--verify', '--json']);
    assert.equal(truncated.code, EXIT.VERIFY_FAILED);
    assert.equal(truncated.json.ok, false);
    assert.equal(truncated.json.chain, 'broker');
    assert.match((truncated.json.error as { message: string }).message, /recorded head/);

    // Put it back (verifies again), then move it under a chain the broker never started.
    const db2 = await openDb({ spec: dbPath });
    await db2.run("INSERT INTO audit_entries (chain, seq, line) VALUES ('broker', ?, ?)", [lastSeq, lastLine]);
    assert.equal((await cli(dir, ['broker', 'audit', '--db', dbPath, '--verify', '--json'])).code, EXIT.OK);
    await db2.run("UPDATE audit_entries SET chain = 'model:ghost' WHERE chain = 'broker' AND seq = ?", [lastSeq]);
    await db2.close();
    const moved = await cli(dir, ['broker', 'audit', '--db', dbPath, '--verify', '--json']);
    assert.equal(moved.code, EXIT.VERIFY_FAILED);
    assert.match((moved.json.error as { message: string }).message, /never started|recorded head/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
