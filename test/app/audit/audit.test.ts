import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { AuditLog, verifyAuditLogFile } from '../../../app/node/audit/log.ts';
import { entryHash, looksSecret, makeEntry, parseEntry, serializeEntry, type AuditEntry } from '../../../app/node/audit/entry.ts';
import { verifyAuditLog, type AuditProblemKind } from '../../../app/node/audit/verify.ts';
import { generateSigningKey } from '../../../app/keys/key.ts';
import { isAppError } from '../../../app/errors.ts';

const signer = generateSigningKey({ kid: 'audit-signer' });
const trusted = (pk: Uint8Array): boolean => Buffer.from(pk).equals(Buffer.from(signer.publicKey));

async function makeLog(n: number, opts: { every?: number; signed?: boolean } = {}): Promise<{ path: string; lines: string[] }> {
  const path = join(mkdtempSync(join(tmpdir(), 'mv-audit-')), 'audit.log');
  let t = Date.parse('2026-11-21T20:00:00Z');
  const log = new AuditLog(path, { ...(opts.signed === false ? {} : { signer }), checkpointEvery: opts.every ?? 1000, now: () => new Date((t += 1000)) });
  for (let i = 0; i < n; i++) await log.append({ actor: 'alice', action: 'keys.new', object: `mv-enc-${i}`, result: i % 5 === 4 ? 'denied' : 'ok', details: { keyFingerprint: `mvfp1:${i}` } });
  return { path, lines: readFileSync(path, 'utf8').trimEnd().split('\n') };
}

const text = (lines: readonly string[]): string => lines.join('\n') + '\n';
function kinds(lines: readonly string[]): [AuditProblemKind, number][] {
  return verifyAuditLog(text(lines), { isTrustedSigner: trusted }).problems.map((p) => [p.kind, p.entry]);
}
function rehash(line: string, change: (e: Record<string, unknown>) => void): string {
  const e = JSON.parse(line) as Record<string, unknown>;
  change(e);
  delete e.sig;
  const { hash: _h, ...rest } = e;
  return serializeEntry({ ...(rest as unknown as AuditEntry), hash: entryHash(rest as unknown as AuditEntry) });
}

void test('an intact log verifies; checkpoints are signed and counted', async () => {
  const { path, lines } = await makeLog(12, { every: 5 });
  const cps = lines.map((l) => parseEntry(l)!).filter((e) => e.action === 'audit.checkpoint');
  assert.equal(cps.length, 2);
  const r = await verifyAuditLogFile(path, { isTrustedSigner: trusted });
  assert.deepEqual(r.problems, []);
  assert.equal(r.ok, true);
  assert.equal(r.entries, 14);
  assert.equal(r.checkpoints, 2);
  assert.equal(r.unsignedTail, 2);
  const log = new AuditLog(path, { signer });
  await log.checkpoint('alice');
  assert.equal((await verifyAuditLogFile(path)).unsignedTail, 0);
  assert.equal(await log.checkpoint('alice'), undefined); // nothing new to sign
  // a checkpoint by an unknown key is reported
  assert.deepEqual(
    verifyAuditLog(readFileSync(path, 'utf8'), { isTrustedSigner: () => false }).problems.map((p) => p.kind),
    ['untrusted-checkpoint', 'untrusted-checkpoint', 'untrusted-checkpoint'],
  );
});

void test('an edited entry is detected at its number (plain edit, and edit with the hash recomputed)', async () => {
  const { lines } = await makeLog(8, { signed: false });
  for (const i of [0, 3, 7]) {
    const plain = lines.slice();
    plain[i] = plain[i]!.replace('"result":"ok"', '"result":"failed"').replace('"result":"denied"', '"result":"ok"');
    assert.deepEqual(kinds(plain), [['edited', i + 1]]);
  }
  const sneaky = lines.slice();
  sneaky[3] = rehash(sneaky[3]!, (e) => (e.actor = 'mallory'));
  assert.deepEqual(kinds(sneaky), [['edited', 4]]);
});

void test('a deleted entry is detected where it was (first, middle, several)', async () => {
  const { lines } = await makeLog(8, { signed: false });
  assert.deepEqual(kinds(lines.filter((_, i) => i !== 4)), [['deleted', 5]]);
  assert.deepEqual(kinds(lines.slice(1)), [['deleted', 1]]);
  const r = verifyAuditLog(text(lines.filter((_, i) => i < 2 || i > 4)));
  assert.deepEqual(
    r.problems.map((p) => [p.kind, p.entry]),
    [['deleted', 3]],
  );
  assert.match(r.problems[0]!.message, /seq 3-5/);
});

void test('an inserted entry is detected (duplicate, forged with a recomputed hash, forged in-chain)', async () => {
  const { lines } = await makeLog(8, { signed: false });
  const dup = [...lines.slice(0, 5), lines[2]!, ...lines.slice(5)];
  assert.deepEqual(kinds(dup), [['inserted', 6]]);
  // forged: claims seq 4 and chains to entry 3, placed before the genuine entry 4
  const forged = rehash(lines[3]!, (e) => (e.object = 'forged'));
  assert.deepEqual(kinds([...lines.slice(0, 3), forged, ...lines.slice(3)]), [['inserted', 4]]);
  // forged with a wrong prev (does not chain), same seq as the next genuine entry
  const loose = rehash(lines[3]!, (e) => ((e.object = 'forged'), (e.prev = 'f'.repeat(64))));
  assert.deepEqual(kinds([...lines.slice(0, 3), loose, ...lines.slice(3)]), [['inserted', 4]]);
});

void test('reordered entries are detected', async () => {
  const { lines } = await makeLog(8, { signed: false });
  const swapped = lines.slice();
  [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
  const k = kinds(swapped);
  assert.ok(k.length > 0 && k.every(([kind]) => kind === 'reordered'), JSON.stringify(k));
  assert.equal(k[0]![1], 4);
  const moved = [...lines.slice(0, 2), ...lines.slice(3, 6), lines[2]!, ...lines.slice(6)];
  assert.equal(kinds(moved)[0]![0], 'reordered');
  assert.equal(kinds(moved)[0]![1], 3);
});

void test('a fully recomputed history is caught by the signed checkpoint', async () => {
  const { lines } = await makeLog(6, { every: 6 });
  assert.equal(parseEntry(lines[6]!)!.action, 'audit.checkpoint');
  // rewrite entry 2 and recompute every following hash and prev, keeping the old signature on the checkpoint
  const out: string[] = [lines[0]!];
  let prevHash = parseEntry(lines[0]!)!.hash;
  for (let i = 1; i < lines.length; i++) {
    const e = JSON.parse(lines[i]!) as Record<string, unknown>;
    if (i === 1) e.object = 'rewritten';
    e.prev = prevHash;
    const sig = e.sig;
    delete e.sig;
    delete e.hash;
    const hash = entryHash(e as unknown as AuditEntry);
    prevHash = hash;
    out.push(serializeEntry({ ...(e as unknown as AuditEntry), hash, ...(typeof sig === 'string' ? { sig } : {}) }));
  }
  assert.deepEqual(kinds(out), [['bad-checkpoint', 7]]);
});

void test('truncation is detected against a head recorded earlier; malformed and torn lines are reported', async () => {
  const { path, lines } = await makeLog(6, { signed: false });
  const head = verifyAuditLog(text(lines)).head!;
  const r = verifyAuditLog(text(lines.slice(0, 4)), { expectedHead: head });
  assert.deepEqual(
    r.problems.map((p) => p.kind),
    ['truncated'],
  );
  assert.deepEqual(kinds([...lines.slice(0, 2), 'not json', ...lines.slice(3)]).map(([k]) => k)[0], 'malformed');
  appendFileSync(path, '{"v":1,"seq":7');
  await assert.rejects(new AuditLog(path).append({ actor: 'a', action: 'x', object: 'y', result: 'ok' }), (e) => isAppError(e) && e.code === 'AUDIT_TAMPERED');
  assert.deepEqual(
    (await verifyAuditLogFile(path)).problems.map((p) => [p.kind, p.entry]),
    [['malformed', 7]],
  );
});

void test('entries refuse secret-looking fields and control characters (a caller bug)', () => {
  for (const name of ['key', 'masterKey', 'secret', 'passphrase', 'd', 'k', 'seed', 'api_token', 'share']) {
    assert.ok(looksSecret(name), name);
    assert.throws(() => makeEntry({ actor: 'a', action: 'x', object: 'y', result: 'ok', details: { [name]: 'v' } }, undefined, new Date()), /internal error/);
  }
  for (const name of ['kid', 'publicKey', 'keyFingerprint', 'keyCount', 'alg', 'path']) assert.ok(!looksSecret(name), name);
  assert.throws(() => makeEntry({ actor: 'a\nb', action: 'x', object: 'y', result: 'ok' }, undefined, new Date()));
  assert.throws(() => makeEntry({ actor: 'a', action: 'x', object: 'y', result: 'maybe' as never }, undefined, new Date()));
});

void test('two processes appending at once keep one valid chain', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'mv-audit-')), 'audit.log');
  writeFileSync(path, '');
  const mod = new URL('../../../app/node/audit/log.ts', import.meta.url).pathname;
  const script = `const { AuditLog } = await import(${JSON.stringify(mod)}); const log = new AuditLog(${JSON.stringify(path)});
    for (let i = 0; i < 15; i++) await log.append({ actor: 'p' + process.pid, action: 'test.append', object: String(i), result: 'ok' });`;
  const run = (): Promise<number | null> =>
    new Promise((resolve) => {
      spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit' }).on('exit', resolve);
    });
  assert.deepEqual(await Promise.all([run(), run()]), [0, 0]);
  const r = await verifyAuditLogFile(path);
  assert.deepEqual(r.problems, []);
  assert.equal(r.entries, 30);
});

void test('property: any single edit, deletion, insertion or swap is detected near where it happened', async () => {
  const { lines } = await makeLog(12, { signed: false });
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let trial = 0; trial < 400; trial++) {
    const op = trial % 4;
    const i = rnd(lines.length);
    let mutated: string[];
    let expected: AuditProblemKind[];
    if (op === 0) {
      mutated = lines.slice();
      mutated[i] = rnd(2) === 0 ? mutated[i]!.replace('alice', 'mallory') : rehash(mutated[i]!, (e) => (e.object = 'x'));
      expected = ['edited'];
    } else if (op === 1) {
      mutated = lines.filter((_, j) => j !== i);
      expected = ['deleted'];
    } else if (op === 2) {
      const src = lines[rnd(lines.length)]!;
      mutated = [...lines.slice(0, i), rnd(2) === 0 ? src : rehash(src, (e) => (e.object = 'forged')), ...lines.slice(i)];
      expected = ['inserted', 'edited'];
    } else {
      const j = i === lines.length - 1 ? i - 1 : i;
      mutated = lines.slice();
      [mutated[j], mutated[j + 1]] = [mutated[j + 1]!, mutated[j]!];
      expected = ['reordered'];
    }
    const r = verifyAuditLog(text(mutated));
    if (op === 1 && i === lines.length - 1) {
      // deleting the last entry needs a recorded head
      assert.equal(verifyAuditLog(text(mutated), { expectedHead: verifyAuditLog(text(lines)).head! }).ok, false);
      continue;
    }
    assert.equal(r.ok, false, `trial ${trial} op ${op} at ${i}`);
    const first = r.problems[0]!;
    assert.ok(expected.includes(first.kind), `trial ${trial}: op ${op} at ${i} reported ${first.kind}`);
    assert.ok(Math.abs(first.entry - (i + 1)) <= 1, `trial ${trial}: op ${op} at ${i + 1} reported at ${first.entry}`);
  }
});
