/**
 * Child process for the kill -9 test: `node --import tsx rotate-child.ts <folder> <keys.json> <audit.log> <keysets.json>`.
 * Prints "ready" once everything is loaded, "rewrap" when the first file is about to be rewrapped (after the
 * dry-run checks), and "done" at the end.
 * keys.json is a JWK Set (with secrets, mode 0600, test only): old/new master and signing keys by kid.
 */
import { readFile } from 'node:fs/promises';
import { parseJwkOrSet } from '../../../app/keys/jwk.ts';
import { publicHalf, type KeyMaterial, type MasterKey, type SigningKey } from '../../../app/keys/key.ts';
import { AuditLog } from '../../../app/node/audit/log.ts';
import { findKeyset, replaceKeyset, updateKeysets } from '../../../app/node/keys/keyset-file.ts';
import { clearDeadLock, rotateFolder } from '../../../app/node/keys/rotate-folder.ts';

const [folder, keysFile, auditPath, keysetsFile] = process.argv.slice(2);
if (folder === undefined || keysFile === undefined || auditPath === undefined || keysetsFile === undefined) throw new Error('usage: rotate-child <folder> <keys.json> <audit.log> <keysets.json>');
const keys = parseJwkOrSet(await readFile(keysFile, 'utf8'));
const byKid = (kid: string): KeyMaterial => {
  const k = keys.find((x) => x.kid === kid);
  if (k === undefined) throw new Error(`missing ${kid}`);
  return k;
};
const oldSign = byKid('sign-2025') as SigningKey;
process.stdout.write('ready\n');
await rotateFolder(folder, {
  oldMasterKeys: [byKid('enc-2025') as MasterKey],
  newMasterKey: byKid('enc-2026') as MasterKey,
  newSigningKey: byKid('sign-2026') as SigningKey,
  oldSigningKey: oldSign,
  trustedSigners: [publicHalf(oldSign)],
  audit: { log: new AuditLog(auditPath), actor: 'kill-test' },
  keysets: {
    async update(purpose, change) {
      await clearDeadLock(keysetsFile);
      return findKeyset(await updateKeysets(keysetsFile, (f) => replaceKeyset(f, change(findKeyset(f, purpose, 'acme')))), purpose, 'acme');
    },
  },
  onProgress: (p) => {
    if (p.phase === 'rewrap' && p.filesDone === 0) process.stdout.write('rewrap\n');
  },
});
process.stdout.write('done\n');
