/**
 * The must-hold test of issue 5: kill -9 at random points during a folder rotation (at least 20 trials). A child
 * process rotates a folder of models (two single files and a two-shard folder) and is killed with SIGKILL after a
 * random delay. Afterwards every model (every file, and every shard of the folder model) is valid under the old keys
 * or under the new ones, never broken; the new key is never promoted in its keyset before every model is under it;
 * a rerun completes the rotation and promotes it; the audit log still verifies; and no key
 * bytes appear in the journal or the audit log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { randomBytes } from '../../../app/crypto/random.ts';
import { serializeJwkSet } from '../../../app/keys/jwk.ts';
import { publicHalf } from '../../../app/keys/key.ts';
import { AuditLog, verifyAuditLogFile } from '../../../app/node/audit/log.ts';
import { findKeyset, loadKeysets, replaceKeyset, updateKeysets } from '../../../app/node/keys/keyset-file.ts';
import { clearDeadLock, readJournal, rotateFolder, type KeysetPort } from '../../../app/node/keys/rotate-folder.ts';
import { assertNoKeyBytes } from '../../app/keys/secret-scan.ts';
import { FIXTURE_MODELS, assertNeverBroken, copyFolder, makeKeys, makeModelFolder, removeDir, tempDir, verifyUnder } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./rotate-child.ts', import.meta.url));
const TRIALS = Number(process.env.MV_KILL_TRIALS ?? '20');
const CONCURRENCY = Number(process.env.MV_KILL_CONCURRENCY ?? '2');

interface ChildRun {
  /** ms from "rewrap" (the first file about to change) to exit (or to the kill). */
  readonly ms: number;
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the child; kills it with SIGKILL `killAfterMs` after it says "rewrap" (the plan is checked and the first file
 * is about to change), never when undefined. A delay of 0 lands anywhere in the load-and-plan phase before it.
 */
function runChild(script: string, folder: string, keysFile: string, auditPath: string, killAfterMs?: number): Promise<ChildRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [script, folder, keysFile, auditPath, `${folder}.keysets.json`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyAt = 0;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (readyAt === 0 && stdout.includes('rewrap\n')) {
        readyAt = performance.now();
        if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const ms = readyAt === 0 ? 0 : performance.now() - readyAt;
      if (signal === 'SIGKILL') resolveRun({ ms, killed: true, stdout, stderr });
      else if (code === 0) resolveRun({ ms, killed: false, stdout, stderr });
      else reject(new Error(`rotation child failed (exit ${String(code)}): ${stderr.slice(-2000)}`));
    });
  });
}

function randomDelay(maxMs: number): number {
  const b = randomBytes(4);
  const u = ((b[0] as number) * 2 ** 24 + (b[1] as number) * 2 ** 16 + (b[2] as number) * 2 ** 8 + (b[3] as number)) / 2 ** 32;
  return Math.floor(u * maxMs);
}

void test(`kill -9 at random points during a folder rotation (${TRIALS} trials): never broken, a rerun completes`, { timeout: 600_000 }, async () => {
  const dir = await tempDir('mv-rot-kill-');
  const cleanup: string[] = [];
  try {
    const keys = makeKeys();
    const pristine = await makeModelFolder(dir, keys);
    const keysFile = join(dir, 'keys.json');
    await writeFile(keysFile, serializeJwkSet([keys.oldMaster, keys.oldSign, keys.newMaster, keys.newSign], { includeSecret: true }), { mode: 0o600 });
    const secrets = [keys.oldMaster, keys.oldSign, keys.newMaster, keys.newSign];
    // The child is bundled once (esbuild, already a dev dependency) so each of the many spawns starts fast. It goes
    // under node_modules/.cache so its one unbundled import (tsx, resolved by the AEAD pool) still resolves.
    const script = fileURLToPath(new URL(`../../../node_modules/.cache/model-vault-test/rotate-child-${process.pid}.mjs`, import.meta.url));
    await build({ entryPoints: [CHILD], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: script, external: ['tsx', 'tsx/*'], logLevel: 'error' });
    cleanup.push(script);

    // calibrate: how long a whole rotation takes in a child on this machine
    const cal = join(dir, 'calibrate');
    await copyFolder(pristine, cal);
    const full = await runChild(script, cal, keysFile, join(dir, 'calibrate.log'));
    assert.match(full.stdout, /done/);
    for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(cal, m), keys, 'new'), m);
    // The window adapts: a run that finished before its kill shrinks it, so the kills keep landing mid-rotation.
    let window = Math.max(50, Math.ceil(full.ms));

    const opts = { oldMasterKeys: [keys.oldMaster], newMasterKey: keys.newMaster, newSigningKey: keys.newSign, oldSigningKey: keys.oldSign, trustedSigners: [publicHalf(keys.oldSign)] };
    let killedMid = 0;
    const phases: Record<string, number> = {};
    let attempts = 0;
    let inFlight = 0;
    // Two trials at a time: most of a trial is fsync latency, so this nearly halves the wall time on 2 cores.
    const trial = async (t: number): Promise<void> => {
      const folder = join(dir, `trial-${t}`);
      const auditPath = join(dir, `trial-${t}.log`);
      await copyFolder(pristine, folder);
      const delay = randomDelay(window);
      const run = await runChild(script, folder, keysFile, auditPath, delay);
      const started = performance.now();
      const label = `trial ${t} (kill after ${delay} ms of ${window})`;
      const journal = await readJournal(join(folder, '.model-vault-rotation.json'));
      if (run.killed && journal?.phase !== 'complete') killedMid++;
      else window = Math.max(50, Math.floor(window * 0.7));
      const where = journal === undefined ? 'before the journal' : `${journal.phase}, ${journal.files.filter((f) => f.state === 'done').length}/${journal.files.length} done`;
      phases[where] = (phases[where] ?? 0) + 1;

      // never broken: each model (each shard) under the old keys or the new ones
      const states = await assertNeverBroken(folder, keys, label);
      // the new key is promoted only once every model is under it
      const enc = findKeyset(await loadKeysets(`${folder}.keysets.json`), 'enc', 'acme');
      if (enc.entries.find((e) => e.kid === 'enc-2026')?.state === 'active') assert.ok(Object.values(states).join(',').split(',').every((s) => s === 'new'), `${label}: promoted before every model was rotated`);
      // nothing secret in what the killed run left behind
      if (journal !== undefined) assertNoKeyBytes(await readFile(join(folder, '.model-vault-rotation.json'), 'utf8'), secrets);
      assertNoKeyBytes(await readFile(auditPath, 'utf8').catch(() => ''), secrets);

      // a rerun completes the rotation
      const keysetsFile = `${folder}.keysets.json`;
      const keysets: KeysetPort = {
        async update(purpose, change) {
          await clearDeadLock(keysetsFile);
          return findKeyset(await updateKeysets(keysetsFile, (f) => replaceKeyset(f, change(findKeyset(f, purpose, 'acme')))), purpose, 'acme');
        },
      };
      const report = await rotateFolder(folder, { ...opts, keysets, audit: { log: new AuditLog(auditPath), actor: 'kill-test-rerun' } });
      assert.equal(report.models.length, FIXTURE_MODELS.length, label);
      for (const m of FIXTURE_MODELS) assert.ok(await verifyUnder(join(folder, m), keys, 'new'), `${label}: ${m} not under the new keys after the rerun`);
      assert.equal((await readJournal(report.journal))?.phase, 'complete', label);
      const encAfter = findKeyset(await loadKeysets(keysetsFile), 'enc', 'acme');
      assert.equal(encAfter.entries.find((e) => e.kid === 'enc-2026')?.state, 'active', label);
      assert.equal(encAfter.entries.find((e) => e.kid === 'enc-2025')?.state, 'previous', label);
      const audit = await verifyAuditLogFile(auditPath);
      assert.ok(audit.ok, `${label}: audit log ${JSON.stringify(audit.problems)}`);
      await removeDir(folder);
      process.stderr.write(`${label}: ${where}, checks took ${Math.round(performance.now() - started)} ms\n`);
    };
    const worker = async (): Promise<void> => {
      while (killedMid + inFlight < TRIALS && attempts < TRIALS * 2) {
        const t = attempts++;
        inFlight++;
        try {
          await trial(t);
        } finally {
          inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    process.stdout.write(`# kill -9: ${attempts} runs, ${killedMid} killed mid-rotation (calibrated rotation ${Math.ceil(full.ms)} ms); states at the kill: ${JSON.stringify(phases)}\n`);
    assert.ok(killedMid >= TRIALS, `only ${killedMid} of ${attempts} kills landed during the rotation`);
  } finally {
    await removeDir(dir);
    for (const f of cleanup) await rm(f, { force: true });
  }
});
