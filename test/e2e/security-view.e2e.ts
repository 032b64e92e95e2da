/**
 * The security view through the web host, against the real services and the real key stores: the key inventory,
 * creating the new master key, the offline rotation wizard (dry-run diff, rotation with progress, models verify under
 * the new key, the signed bundle exported), resuming an interrupted rotation, and the audit log shown as verified;
 * then a published model rotated with its bundle sent to the app's (embedded) broker from the wizard.
 *
 * Setup packages generated models under "old" keys kept in the OS keychain (a real Secret Service under
 * dbus-run-session), or, where there is none, in the encrypted file keystore, which the test unlocks through the UI.
 */
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { toB64std, toHex } from '../../app/crypto/encoding.ts';
import { randomBytes } from '../../app/crypto/random.ts';
import { generateMasterKey, generateSigningKey, fingerprintOfPublicKey, type MasterKey, type SigningKey } from '../../app/keys/key.ts';
import type { KeyStore } from '../../app/keys/keystore.ts';
import { parseRotationBundle, verifyRotationBundle } from '../../app/keys/rotation-bundle.ts';
import { verifyModel } from '../../app/node/format/verify.ts';
import { FileKeyStore } from '../../app/node/keys/file-keystore.ts';
import { KeychainKeyStore } from '../../app/node/keys/keychain-keystore.ts';
import { rotateFolder } from '../../app/node/keys/rotate-folder.ts';
import { FIXTURE_MODELS, makeModelFolder } from '../main/rotate/helpers.ts';
import { headerBytesOf } from '../../app/format/safetensors.ts';
import { brokerBoxPub, openDevice, readProfile, type DeviceProfile } from '../../app/node/broker/profile.ts';
import type { Locator, Page } from '@playwright/test';
import { REPORTS, expect, test } from './fixtures.ts';

const SUFFIX = toHex(randomBytes(3));
const KID = { oldEnc: `e2e-enc-old-${SUFFIX}`, oldSign: `e2e-sign-${SUFFIX}`, newEnc: `e2e-enc-new-${SUFFIX}`, nextEnc: `e2e-enc-next-${SUFFIX}`, pushEnc: `e2e-enc-push-${SUFFIX}`, pushSign: `e2e-sign-push-${SUFFIX}` };
const PUSH_MODEL = `acme-7b-${SUFFIX}`;
/** Keys the UI created with generated kids (removed from the key store afterwards). */
const created: string[] = [];
const PASSPHRASE = 'e2e keystore passphrase';

let work: string;
let folderA: string;
let folderB: string;
let oldMaster: MasterKey;
let oldSign: SigningKey;
let nextMaster: MasterKey;
let pushMaster: MasterKey;
let pushSign: SigningKey;
let store: KeyStore;
let storeLabel: 'OS keychain' | 'File keystore';

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ host }) => {
  work = await mkdtemp(join(tmpdir(), 'mv-e2e-security-'));
  oldMaster = generateMasterKey('aes256gcm', { kid: KID.oldEnc });
  oldSign = generateSigningKey({ kid: KID.oldSign });
  nextMaster = generateMasterKey('aes256gcm', { kid: KID.nextEnc });
  pushMaster = generateMasterKey('aes256gcm', { kid: KID.pushEnc });
  pushSign = generateSigningKey({ kid: KID.pushSign });
  try {
    store = await KeychainKeyStore.open();
    storeLabel = 'OS keychain';
  } catch {
    store = await FileKeyStore.openOrCreate(join(host.dataDir, 'keystore.json'), PASSPHRASE, { params: { N: 1024, r: 8, p: 1 } });
    storeLabel = 'File keystore';
  }
  const meta = { createdAt: new Date().toISOString(), origin: 'imported' as const, label: 'e2e' };
  for (const key of [oldMaster, oldSign, nextMaster, pushMaster, pushSign]) await store.put({ key, meta });
  // Folder A: three models (two single files, one sharded folder) under the old keys.
  folderA = await makeModelFolder(join(work, 'a'), { oldMaster, oldSign, newMaster: nextMaster, newSign: oldSign });
  // Folder B: the same, with a rotation to the "next" key interrupted after its first file.
  folderB = join(work, 'b', 'models');
  await cp(folderA, folderB, { recursive: true });
  const interrupted = rotateFolder(folderB, {
    oldMasterKeys: [oldMaster],
    newMasterKey: nextMaster,
    oldSigningKey: oldSign,
    trustedSigners: [{ publicKey: oldSign.publicKey }],
    afterFile: () => {
      throw new Error('simulated power loss');
    },
  });
  await expect(interrupted).rejects.toThrow('simulated power loss');
});

test.afterAll(async () => {
  for (const kid of [...Object.values(KID), ...created]) await store.delete(kid).catch(() => false);
  await rm(work, { recursive: true, force: true });
});

/** Screenshots at both sizes; the content pane scrolls, so `focus` (if given) is scrolled to the top of it first. */
async function shoot(page: Page, name: string, focus?: Locator): Promise<void> {
  for (const [width, height] of [[1280, 800], [1024, 700]] as const) {
    await page.setViewportSize({ width, height });
    if (focus === undefined) await page.locator('#main').evaluate((el) => el.scrollTo(0, 0));
    else await focus.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await page.screenshot({ path: join(REPORTS, `security-${name}-${width}x${height}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function modelsVerify(folder: string, master: MasterKey): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const m of FIXTURE_MODELS) {
    const r = await verifyModel(join(folder, m), { masterKeys: [master], trustedSigners: [{ publicKey: oldSign.publicKey }], parallel: false });
    out.push(r.ok);
  }
  return out;
}

test('rotation flow: inventory, new key, dry run, rotation with progress, bundle, resume, verified audit log', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Keys & audit' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Keys & audit' })).toBeVisible();

  // --- key inventory
  const table = page.getByTestId('key-table');
  if (storeLabel === 'File keystore') {
    await expect(page.getByTestId('store-file')).toContainText('Locked');
    await page.getByLabel('Keystore passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await expect(page.getByTestId('store-file')).toContainText('Unlocked');
  }
  const oldRow = table.locator(`tr[data-kid="${KID.oldEnc}"]`);
  await expect(oldRow).toContainText('AES-256-GCM');
  await expect(oldRow).toContainText(storeLabel);
  await expect(table.locator(`tr[data-kid="${KID.oldSign}"]`)).toContainText('Ed25519');

  await page.getByRole('button', { name: 'New key' }).click();
  await page.getByLabel('Type').selectOption('aes256gcm');
  await page.getByLabel('Key id (optional)').fill(KID.newEnc);
  await page.getByLabel('Label (optional)').fill('Rotation 2026');
  await page.getByLabel('Store in').selectOption(storeLabel === 'OS keychain' ? 'keychain' : 'file');
  await page.getByRole('button', { name: 'Create key' }).click();
  const newRow = table.locator(`tr[data-kid="${KID.newEnc}"]`);
  await expect(newRow).toContainText('Rotation 2026');
  await expect(newRow).toContainText('keys.new');
  await expect(newRow).toContainText('Not in a keyset');
  await shoot(page, 'keys');

  // --- rotation wizard: scan, choose the new key, dry run
  await page.getByRole('tab', { name: 'Rotate keys' }).click();
  await page.getByLabel('Folder with the encrypted models').fill(folderA);
  await page.getByRole('button', { name: 'Read folder' }).click();
  const scan = page.getByTestId('scan-summary');
  await expect(scan).toContainText(KID.oldEnc);
  await expect(scan).toContainText(storeLabel === 'OS keychain' ? 'in the OS keychain' : 'in the file keystore');
  await expect(scan).toContainText('sharded · 2 shards');
  await page.getByLabel(/New master key/).selectOption(KID.newEnc);
  await page.getByRole('button', { name: 'Dry run' }).click();
  const diff = page.getByTestId('dry-run');
  await expect(diff.locator('.sec-change').first()).toContainText(KID.oldEnc);
  await expect(diff.locator('.sec-change').first()).toContainText(KID.newEnc);
  await expect(diff).toContainText('4 file(s) to rewrap');
  await expect(diff.locator('tbody tr')).toHaveCount(4);
  await expect(diff.locator('tbody tr', { hasText: 'nested/beta.safetensors' })).toContainText('2 of');
  await expect(diff).toContainText('README.md');
  await shoot(page, 'rotate-dry-run', page.getByRole('heading', { name: '3 · What will change' }));

  // --- rotate: the progress panel (with Cancel) appears while it runs; record it without racing the task
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __progressSeen: string[] }).__progressSeen = seen;
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="task-progress"]');
      if (el !== null) seen.push(el.textContent ?? '');
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  // the new master key is wrapped for a broker in the bundle: only the one named here (when an earlier test file
  // enrolled this host as a producer, the app's own broker is offered too, checked by default: not in this flow)
  const wrapForApp = page.getByLabel(/Wrap the new key for this app’s broker/);
  if ((await wrapForApp.count()) > 0) await wrapForApp.uncheck();
  await page.getByLabel(/broker keys the new master key is wrapped for/i).fill(`broker-e2e:${toB64std(x25519.getPublicKey(x25519.utils.randomSecretKey()))}`);
  await page.getByRole('button', { name: 'Rotate 4 file(s)' }).click();
  const result = page.getByTestId('rotation-result');
  await expect(result).toContainText('Rotation complete.');
  await expect(result).toContainText('4 file(s) rewrapped; 3 of 3 model(s) verified under the new key');
  await expect(result).toContainText('Verified every model under the new keys alone');
  await expect(result).toContainText('Signed the rotation bundle');
  const seen = await page.evaluate(() => (window as unknown as { __progressSeen: string[] }).__progressSeen);
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.join(' ')).toContain('Rotating keys');
  expect(seen.join(' ')).toContain('Cancel');

  // the models now open under the new key alone
  const newKey = (await store.get(KID.newEnc))?.key;
  expect(newKey?.kind).toBe('master');
  expect(await modelsVerify(folderA, newKey as MasterKey)).toEqual([true, true, true]);

  // --- the signed bundle, saved where the user says
  const target = join(work, 'bundle-for-broker.json');
  await page.getByLabel('Save a copy for the broker to').fill(target);
  await page.getByRole('button', { name: 'Save bundle' }).click();
  await expect(page.getByTestId('bundle-saved')).toContainText(target);
  const bundle = parseRotationBundle(await readFile(target, 'utf8'));
  expect(bundle.enc?.newKid).toBe(KID.newEnc);
  expect(bundle.models).toHaveLength(4);
  expect(bundle.enc?.wrapped.map((w) => w.recipient)).toEqual(['broker-e2e']);
  await expect(page.getByTestId('bundle-export')).toContainText('broker-e2e');
  expect(verifyRotationBundle(bundle, (pk) => fingerprintOfPublicKey(pk) === fingerprintOfPublicKey(oldSign.publicKey)).ok).toBe(true);
  await shoot(page, 'rotate-result', page.getByRole('heading', { name: '4 · Result' }));

  // --- an interrupted rotation is shown and resumed
  await page.getByLabel('Folder with the encrypted models').fill(folderB);
  await page.getByRole('button', { name: 'Read folder' }).click();
  const unfinished = page.getByTestId('unfinished-rotation');
  await expect(unfinished).toContainText('An interrupted rotation was found');
  await expect(unfinished).toContainText(`${KID.nextEnc} stopped at “rewrapping” with 1 of 4 files done`);
  await shoot(page, 'rotate-interrupted');
  await unfinished.getByRole('button', { name: 'Resume rotation' }).click();
  await expect(result).toContainText('Rotation resumed and complete.');
  await expect(result).toContainText('3 of 3 model(s) verified');
  expect(await modelsVerify(folderB, nextMaster)).toEqual([true, true, true]);

  // --- the keysets moved: the old key is previous and can be retired from the inventory
  await page.getByRole('tab', { name: 'Keys', exact: true }).click();
  await expect(oldRow).toContainText('previous');
  await oldRow.getByRole('button', { name: `Retire ${KID.oldEnc}` }).click();
  await expect(oldRow).toContainText('retired');

  // --- the audit log: every act is there; with a signed checkpoint the log is verified up to its head
  await page.getByRole('tab', { name: 'Audit log' }).click();
  await page.getByLabel('Sign a checkpoint with').selectOption(KID.oldSign);
  await page.getByRole('button', { name: 'Sign checkpoint' }).click();
  const verification = page.getByTestId('audit-verification');
  await expect(verification).toContainText('Verified: the hash chain of all');
  await expect(verification).toContainText(`signed by ${KID.oldSign}`);
  await expect(verification).not.toContainText('after the last checkpoint');
  const audit = page.getByTestId('audit-table');
  for (const action of ['keys.new', 'keys.rotate.plan', 'keys.rotate.complete', 'keys.rotate.bundle.export', 'keys.retire', 'audit.checkpoint']) {
    await expect(audit.locator('tbody tr', { hasText: action }).first()).toBeVisible();
  }
  await page.getByLabel('Action').selectOption('keys.rotate.complete');
  await expect(audit.locator('tbody tr')).toHaveCount(2);
  await page.getByLabel('Action').selectOption('');
  await shoot(page, 'audit');
});

test('rotation bundle sent to the app\'s broker: wrapped for it, pushed as signed with progress, accepted and audited', async ({ page, host }) => {
  // A producer enrollment of the app (through its own RPC, as the Publish view does) and a sharded model published
  // to the app's embedded broker under its own keys; the key file (if any) is still unlocked from the first test.
  const rpc = async (channel: string, body: unknown): Promise<{ ok: boolean; value?: unknown; error?: { message: string } }> => {
    const res = await fetch(new URL(`rpc/${encodeURIComponent(channel)}`, host.base), { method: 'POST', headers: { 'content-type': 'application/json', 'x-model-vault-token': host.token }, body: JSON.stringify(body) });
    return (await res.json()) as { ok: boolean; value?: unknown; error?: { message: string } };
  };
  // (the producer flow's test file, when it ran earlier on this host, enrolled it already: that enrollment serves)
  const enrolled = await rpc('producer:enroll', { name: 'Acme Models', label: 'e2e workstation' });
  if (!enrolled.ok) expect(enrolled.error?.message ?? '').toMatch(/already enrolled as producer/);
  const folderC = join(await makeModelFolder(join(work, 'c'), { oldMaster: pushMaster, oldSign: pushSign, newMaster: nextMaster, newSign: pushSign }), 'sharded');
  const profile = await readProfile(join(host.dataDir, 'broker', 'producer.json'));
  expect(profile).toBeDefined();
  const device = await openDevice(profile as DeviceProfile, { env: { MODEL_VAULT_HOME: host.dataDir, MODEL_VAULT_PASSPHRASE: PASSPHRASE } });
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const files = await Promise.all(shards.map(async (path) => ({ path, header: headerBytesOf(new Uint8Array(await readFile(join(folderC, path)))) })));
  try {
    await device.client.publish({ modelId: PUSH_MODEL, name: 'Acme 7B', mode: 'open', durationDays: 30, deviceLimit: 2, graceDays: 0, files, masterKey: { alg: 'aes256gcm', kid: KID.pushEnc, key: pushMaster.key }, signingSeed: pushSign.seed as Uint8Array, brokerBoxPub: brokerBoxPub(profile as DeviceProfile) });
  } finally {
    device.close();
  }

  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Keys & audit' }).click();
  await page.getByRole('tab', { name: 'Rotate keys' }).click();
  await page.getByLabel('Folder with the encrypted models').fill(folderC);
  await page.getByRole('button', { name: 'Read folder' }).click();
  await expect(page.getByTestId('scan-summary')).toContainText(KID.pushEnc);
  await page.getByRole('button', { name: 'Create new key' }).click();
  await expect(page.getByLabel(/New master key/)).not.toHaveValue('');
  created.push(await page.getByLabel(/New master key/).inputValue());
  await page.getByRole('button', { name: 'Dry run' }).click();
  await expect(page.getByTestId('dry-run')).toContainText('2 file(s) to rewrap');
  const wrap = page.getByLabel(/Wrap the new key for this app’s broker/);
  await expect(wrap).toBeChecked();
  await shoot(page, 'rotate-wrap-for-broker', page.getByRole('heading', { name: '3 · What will change' }));
  await page.getByRole('button', { name: 'Rotate 2 file(s)' }).click();
  await expect(page.getByTestId('rotation-result')).toContainText('Rotation complete.');
  await expect(page.getByTestId('bundle-export')).toContainText(profile?.brokerId ?? '-');

  // --- send: the model id, progress while it runs, the broker's answer
  const push = page.getByTestId('bundle-push');
  await push.getByLabel('Published model').fill(PUSH_MODEL);
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { __pushSeen: string[] }).__pushSeen = seen;
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="bundle-push"] [data-testid="task-progress"]');
      if (el !== null) seen.push(el.textContent ?? '');
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  await push.getByRole('button', { name: 'Send to broker' }).click();
  const pushed = page.getByTestId('bundle-pushed');
  await expect(pushed).toContainText(`for ${PUSH_MODEL}: 2 header(s) imported under the new key`);
  const seen = await page.evaluate(() => (window as unknown as { __pushSeen: string[] }).__pushSeen);
  expect(seen.join(' ')).toContain('Sending the bundle to the broker');
  await shoot(page, 'rotate-send', page.getByTestId('bundle-export'));
  expect(await axeViolations(page)).toEqual([]);

  // --- a wrong model id is refused by the broker with a message, and nothing changes there
  await push.getByLabel('Published model').fill('not-published-here');
  await push.getByRole('button', { name: 'Send again' }).click();
  await expect(push.getByTestId('bundle-push-error')).toContainText('No such model of yours');

  // --- the push is in the app's audit log
  await page.getByRole('tab', { name: 'Audit log' }).click();
  await page.getByLabel('Action').selectOption('keys.rotate.bundle.push');
  const audit = page.getByTestId('audit-table');
  await expect(audit.locator('tbody tr', { hasText: 'ok' })).toHaveCount(1);
  await expect(audit.locator('tbody tr')).toHaveCount(2);

  // --- one unlock: without a keychain, the key file unlocked once in the security view (first test) also holds the
  // producer's device key (the enrollment above) and serves the subscriber view, which does not ask again.
  await page.getByRole('link', { name: 'My models' }).click();
  await expect(page.getByLabel('Your name or organisation')).toBeVisible();
  await expect(page.getByTestId('key-file-unlock')).toHaveCount(0);
});

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core WCAG 2.1 A/AA violations on the page (injected through the DevTools protocol: no CSP exception). */
async function axeViolations(page: Page): Promise<{ id: string; targets: string[] }[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as { axe: { run: (ctx: Document, opts: unknown) => Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } };
    const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, targets: v.nodes.flatMap((n) => n.target) }));
  });
}

test('security view: keyboard-only tabs and no WCAG 2.1 A/AA violations on any tab', async ({ page, host }) => {
  await page.goto(host.launchUrl);
  await page.getByRole('link', { name: 'Keys & audit' }).click();
  const keysTab = page.getByRole('tab', { name: 'Keys', exact: true });
  await expect(keysTab).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('key-table')).toBeVisible();
  expect(await axeViolations(page)).toEqual([]);

  await keysTab.focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Rotate keys' })).toBeFocused();
  await expect(page.getByRole('tab', { name: 'Rotate keys' })).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Folder with the encrypted models')).toBeFocused();
  await page.keyboard.type(folderA);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('scan-summary')).toBeVisible();
  expect(await axeViolations(page)).toEqual([]);

  await page.getByRole('tab', { name: 'Rotate keys' }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('audit-verification')).toBeVisible();
  expect(await axeViolations(page)).toEqual([]);
});
