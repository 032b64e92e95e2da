/**
 * Format verbs: inspect, package, verify, rewrap, export. Keys come from JWK files in the reference dialect (or
 * RFC 8037 public keys): `--key` master key(s), `--sign-key` the signing key, `--trust` trusted signer keys (public
 * or private JWKs; only the public half is used). Nothing secret is ever printed.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { usageError } from './usage.ts';
import { resolve } from 'node:path';
import { AppError } from '../../errors.ts';
import { wipe } from '../../crypto/bytes.ts';
import { filePolicyEvaluator } from '../../policy/file-policy.ts';
import { parseJwks, keyFingerprint, type MasterKey, type SigningKey, type VerifyKey } from '../../format/keys.ts';
import { canonicalHeaderText, encodeHeader, type TensorInfo } from '../../format/safetensors.ts';
import type { EncryptSelection } from '../../format/writer.ts';
import { inspectFile, type InspectedFile } from '../format/inspect.ts';
import { openModel } from '../format/open-model.ts';
import { folderLayout, packageModel, type PackageProgress } from '../format/package.ts';
import { rewrapModel } from '../format/rotate.ts';
import { verifyModel, type VerifyReport } from '../format/verify.ts';
import { commit, removeQuietly, tempPathFor } from '../atomic.ts';
import { stringFlag } from './args.ts';
import { type CliCommand, type CliIo, type ParsedArgs, EXIT } from './types.ts';

// ---------------------------------------------------------------------------------------------------------------
// Flag and key helpers


/** Boolean flags the shared parser does not know: a value it swallowed is given back as a positional. */
function boolFlag(args: ParsedArgs, name: string, positionals: string[]): boolean {
  const v = args.flags[name];
  if (v === undefined) return false;
  if (typeof v === 'string') {
    if (v === 'true') return true;
    if (v === 'false') return false;
    positionals.push(v);
  }
  return true;
}

function strings(args: ParsedArgs, name: string, usage: string): string[] {
  return (args.all[name] ?? []).map((v) => {
    if (typeof v !== 'string') throw usageError(usage, `--${name} needs a value`);
    return v;
  });
}

async function readKeyFile(io: CliIo, path: string): Promise<ReturnType<typeof parseJwks>> {
  const full = resolve(io.cwd, path);
  const st = await stat(full).catch(() => null);
  if (st?.isFile() !== true) throw new AppError('KEY_NOT_FOUND', `Key file not found: ${path}`);
  if (st.size > 1 << 20) throw new AppError('KEY_INVALID', `Key file is too large: ${path}`);
  return parseJwks(await readFile(full, 'utf8'));
}

async function masterKeys(args: ParsedArgs, io: CliIo, flag: string, usage: string): Promise<MasterKey[]> {
  const out: MasterKey[] = [];
  for (const p of strings(args, flag, usage)) for (const k of await readKeyFile(io, p)) if (k.kind === 'master') out.push(k.key);
  return out;
}

async function signingKey(args: ParsedArgs, io: CliIo, flag: string, usage: string): Promise<SigningKey> {
  const p = stringFlag(args, flag);
  if (p === undefined) throw usageError(usage, `--${flag} FILE is required`);
  const keys = (await readKeyFile(io, p)).flatMap((k) => (k.kind === 'signing' ? [k.key] : []));
  if (keys.length !== 1) throw new AppError('KEY_NOT_FOUND', `--${flag} must name a file with exactly one Ed25519 private key (kty okp with d).`);
  return keys[0] as SigningKey;
}

async function trusted(args: ParsedArgs, io: CliIo, usage: string): Promise<VerifyKey[]> {
  const out: VerifyKey[] = [];
  for (const p of strings(args, 'trust', usage)) {
    for (const k of await readKeyFile(io, p)) {
      if (k.kind === 'master') continue;
      out.push({ publicKey: k.key.publicKey, ...(k.key.kid === undefined ? {} : { kid: k.key.kid }) });
    }
  }
  return out;
}

async function policyFlag(args: ParsedArgs, io: CliIo): Promise<{ local: string } | undefined> {
  const p = stringFlag(args, 'policy');
  return p === undefined ? undefined : { local: await readFile(resolve(io.cwd, p), 'utf8') };
}

function selection(text: string | undefined): EncryptSelection {
  if (text === undefined || text === 'all') return 'all';
  if (text.length > 2 && text.startsWith('/') && text.endsWith('/')) {
    try {
      return new RegExp(text.slice(1, -1), 'u');
    } catch {
      throw new AppError('VALIDATION', '--encrypt: the pattern is not a valid regular expression.');
    }
  }
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function positiveInt(text: string | undefined, name: string, usage: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(Number(text))) throw usageError(usage, `--${name} must be a positive integer`);
  return Number(text);
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u] as string}`;
}

// ---------------------------------------------------------------------------------------------------------------
// inspect

const INSPECT_USAGE = 'inspect <file|dir> [--trust SIGNER.jwk]... [--json]';

const inspectCommand: CliCommand = {
  words: ['inspect'],
  usage: INSPECT_USAGE,
  summary: 'Show a model file or folder: tensors, encryption, signer, policy, digests and manifest (no master key needed).',
  help: ['  --trust FILE   trusted signer key (JWK, public or private); repeatable. With it the signature is checked.', '  --json         one JSON object on stdout'].join('\n'),
  async run(args, io) {
    const target = args.positionals[0];
    if (target === undefined || args.positionals.length > 1) throw usageError(INSPECT_USAGE, 'give one file or folder');
    const path = resolve(io.cwd, target);
    const trust = await trusted(args, io, INSPECT_USAGE);
    const st = await stat(path).catch(() => null);
    if (st === null) throw new AppError('NOT_FOUND', `No such file or folder: ${target}`);
    const files: InspectedFile[] = [];
    let others: string[] = [];
    if (st.isDirectory()) {
      const layout = await folderLayout(path);
      others = layout.others;
      for (const s of layout.shards) files.push(await inspectFile(resolve(path, s), s, trust));
    } else files.push(await inspectFile(path, target, trust));
    if (io.json) {
      io.out(JSON.stringify({ ok: true, kind: st.isDirectory() ? 'folder' : 'file', files, otherFiles: others }));
      return EXIT.OK;
    }
    for (const f of files) {
      io.out(`${f.path}  (${human(f.bytes)}, ${f.tensors.length} tensors)`);
      if (f.encryption === null) io.out(f.strippedCrypto ? '  WARNING: carries CryptoTensors fields without __encryption__: stripped or downgraded file' : '  plain safetensors (not encrypted, not signed)');
      else {
        io.out(`  encryption: CryptoTensors v${f.encryption.version}, ${f.encryption.alg}${f.encryption.chunkSize === null ? '' : `, chunks of ${human(f.encryption.chunkSize)}`}; enc kid ${f.encryption.encKid ?? '-'}${f.encryption.encJku === null ? '' : ` (jku ${f.encryption.encJku}, not followed)`}`);
        const sig = f.signature;
        io.out(`  signature:  ${sig?.verified === true ? `valid, signer ${sig.signer?.kid ?? '-'} ${sig.signer?.fingerprint ?? ''}` : `NOT verified (${sig?.error ?? ''}); header names signer kid ${f.encryption.signKid ?? '-'}`}`);
        io.out(`  policy:     ${f.policy?.verdict ?? '-'}${f.policy === null ? '' : ` (local: ${JSON.stringify(f.policy.local)})`}`);
      }
      if (f.manifest !== null) io.out(`  manifest:   ${f.manifest.shards} shards, ${f.manifest.files} other files signed`);
      const md = Object.entries(f.metadata);
      if (md.length > 0) io.out(`  metadata:   ${md.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
      for (const t of f.tensors) io.out(`    ${t.encrypted ? 'enc ' : t.authenticated ? 'dig ' : 'RAW '} ${t.name}  ${t.dtype}[${t.shape.join(',')}]  ${human(t.bytes)}${f.digests[t.name] === undefined ? '' : `  sha256 ${f.digests[t.name] as string}`}`);
    }
    if (others.length > 0) io.out(`other files: ${others.join(', ')}`);
    return EXIT.OK;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// package

const PACKAGE_USAGE = 'package <dir|file> -o <out> --key MASTER.jwk --sign-key SIGNING.jwk [--encrypt all|a,b|/regex/] [--version 1|2] [--chunk-size N] [--policy FILE.rego] [--force] [--json]';

function progressBar(io: CliIo): (p: PackageProgress) => void {
  let last = -1;
  return (p) => {
    const pct = p.bytesTotal === 0 ? 100 : Math.floor((p.bytesDone / p.bytesTotal) * 100);
    if (pct === last && p.bytesDone !== p.bytesTotal) return;
    last = pct;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    const eta = p.etaSeconds === null ? '--' : `${Math.ceil(p.etaSeconds)}s`;
    const line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}%  ${human(p.bytesDone)}/${human(p.bytesTotal)}  ${human(p.bytesPerSecond)}/s  ETA ${eta}`;
    io.err(io.isTty ? `\r${line}` : line);
  };
}

const packageCommand: CliCommand = {
  words: ['package'],
  usage: PACKAGE_USAGE,
  summary: 'Encrypt and sign a safetensors file or a whole model folder (shards, config, tokenizer) into CryptoTensors.',
  help: [
    '  -o, --output PATH   the output file or folder (must not exist unless --force)',
    '  --key FILE          master key JWK (kty oct); its alg (aes128gcm, aes256gcm, chacha20poly1305) is used',
    '  --sign-key FILE     Ed25519 signing key JWK (kty okp with d)',
    '  --encrypt SEL       all (default), a comma-separated list of tensor names, or /regex/',
    '  --version 1|2       format version (default 2: chunked); write 1 for readers older than 0.2.3',
    '  --chunk-size N      v2 chunk size in bytes (default 2097152)',
    '  --policy FILE       Rego text for the local policy (default: allow)',
    'Other files of a folder are copied and signed in a manifest inside every shard.',
  ].join('\n'),
  async run(args, io) {
    const pos = [...args.positionals];
    const force = args.flags.force === true;
    const input = pos[0];
    const output = stringFlag(args, 'output');
    if (input === undefined || pos.length > 1) throw usageError(PACKAGE_USAGE, 'give one input file or folder');
    if (output === undefined) throw usageError(PACKAGE_USAGE, '-o OUT is required');
    const keys = await masterKeys(args, io, 'key', PACKAGE_USAGE);
    if (keys.length !== 1) throw usageError(PACKAGE_USAGE, '--key must give exactly one master key');
    const signer = await signingKey(args, io, 'sign-key', PACKAGE_USAGE);
    const versionText = stringFlag(args, 'version');
    if (versionText !== undefined && versionText !== '1' && versionText !== '2') throw usageError(PACKAGE_USAGE, '--version must be 1 or 2');
    const chunkSize = positiveInt(stringFlag(args, 'chunk-size'), 'chunk-size', PACKAGE_USAGE);
    const policy = await policyFlag(args, io);
    const ac = new AbortController();
    const onSigint = (): void => ac.abort();
    process.once('SIGINT', onSigint);
    try {
      const r = await packageModel({
        input: resolve(io.cwd, input), output: resolve(io.cwd, output), masterKey: keys[0] as MasterKey, signingKey: signer, encrypt: selection(stringFlag(args, 'encrypt')),
        ...(versionText === undefined ? {} : { version: versionText === '1' ? 1 : 2 }), ...(chunkSize === undefined ? {} : { chunkSize }), ...(policy === undefined ? {} : { policy }),
        overwrite: force, signal: ac.signal, onProgress: progressBar(io),
      });
      if (io.isTty) io.err('\n');
      for (const w of r.warnings) io.err(`warning: ${w}`);
      if (io.json) io.out(JSON.stringify({ ok: true, output: r.output, shards: r.shards, otherFiles: r.otherFiles, bytes: r.bytes, signer: { kid: signer.kid ?? null, fingerprint: keyFingerprint(signer.publicKey) }, warnings: r.warnings }));
      else io.out(`packaged ${r.shards.length} shard(s) and ${r.otherFiles.length} other file(s) into ${output}; signer ${keyFingerprint(signer.publicKey)}`);
      return EXIT.OK;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// verify

const VERIFY_USAGE = 'verify <file|dir> --trust SIGNER.jwk [--key MASTER.jwk] [--allow-jku URL] [--header-only] [--ignore-policy] [--json]';

function printReport(io: CliIo, r: VerifyReport): void {
  if (io.json) {
    io.out(JSON.stringify({ ok: r.ok, report: r }));
    return;
  }
  for (const f of r.files) io.out(`${f.path}: ${f.encrypted ? 'encrypted' : 'PLAIN'}, signer ${f.signer === null ? 'none' : `${f.signer.kid ?? '-'} ${f.signer.fingerprint}`}, policy ${f.policy ?? '-'}, ${f.tensors} tensors (${f.encryptedTensors} encrypted${f.unauthenticatedTensors > 0 ? `, ${f.unauthenticatedTensors} UNAUTHENTICATED` : ''})`);
  if (r.manifest !== null) io.out(`manifest: ${r.manifest.checked} files checked`);
  for (const p of r.problems) io.out(`FAIL ${p.path}: [${p.code}] ${p.message}`);
  io.out(r.ok ? 'verification OK' : 'verification FAILED');
}

const verifyCommand: CliCommand = {
  words: ['verify'],
  usage: VERIFY_USAGE,
  summary: 'Verify a model file or folder: signature and signer trust, policy, every tensor (decryption and digests), and the folder manifest. Exits 3 on any failure.',
  help: [
    '  --trust FILE      trusted signer key (JWK, public or private); repeatable; required',
    '  --key FILE        master key(s): with them every encrypted tensor is decrypted and authenticated',
    '  --header-only     check signature, policy, digests and manifest without decrypting (no --key needed)',
    '  --ignore-policy   do not enforce the file policy (it is advisory: W-7)',
    '  --allow-jku URL   a file:// key location a header may name to supply the master key (exact match; repeatable).',
    '                    Without it a header jku is never read.',
  ].join('\n'),
  async run(args, io) {
    const pos = [...args.positionals];
    const headerOnly = boolFlag(args, 'header-only', pos);
    const ignorePolicy = boolFlag(args, 'ignore-policy', pos);
    const target = pos[0];
    if (target === undefined || pos.length > 1) throw usageError(VERIFY_USAGE, 'give one file or folder');
    const trust = await trusted(args, io, VERIFY_USAGE);
    if (trust.length === 0) throw usageError(VERIFY_USAGE, '--trust is required: verification needs the publisher key');
    const keys = await masterKeys(args, io, 'key', VERIFY_USAGE);
    if (keys.length === 0 && !headerOnly && args.all['allow-jku'] === undefined) throw usageError(VERIFY_USAGE, 'give --key to decrypt, or --header-only');
    const jkuAllowList = strings(args, 'allow-jku', VERIFY_USAGE);
    const r = await verifyModel(resolve(io.cwd, target), { trustedSigners: trust, masterKeys: keys, headerOnly, ignorePolicy, jkuAllowList, policyEvaluator: filePolicyEvaluator });
    printReport(io, r);
    return r.ok ? EXIT.OK : EXIT.VERIFY_FAILED;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// rewrap

const REWRAP_USAGE = 'rewrap <file|dir> --key OLD_MASTER.jwk --trust OLD_SIGNER.jwk --sign-key NEW_SIGNING.jwk [--new-key NEW_MASTER.jwk] [--policy FILE.rego] [-o OUT] [--json]';

const rewrapCommand: CliCommand = {
  words: ['rewrap'],
  usage: REWRAP_USAGE,
  summary: 'Rotate keys: re-wrap the data keys under a new master key and/or re-sign with a new signing key. Tensor data is unchanged; the write is atomic.',
  async run(args, io) {
    const target = args.positionals[0];
    if (target === undefined || args.positionals.length > 1) throw usageError(REWRAP_USAGE, 'give one file or folder');
    const old = await masterKeys(args, io, 'key', REWRAP_USAGE);
    if (old.length === 0) throw usageError(REWRAP_USAGE, '--key (the current master key) is required');
    const trust = await trusted(args, io, REWRAP_USAGE);
    if (trust.length === 0) throw usageError(REWRAP_USAGE, '--trust (the current signer) is required');
    const signer = await signingKey(args, io, 'sign-key', REWRAP_USAGE);
    const fresh = await masterKeys(args, io, 'new-key', REWRAP_USAGE);
    if (fresh.length > 1) throw usageError(REWRAP_USAGE, '--new-key must give one master key');
    const policy = await policyFlag(args, io);
    const output = stringFlag(args, 'output');
    const r = await rewrapModel(resolve(io.cwd, target), { old: { masterKeys: old, trustedSigners: trust, parallel: false, policyEvaluator: filePolicyEvaluator }, signingKey: signer, ...(fresh[0] === undefined ? {} : { masterKey: fresh[0] }), ...(policy === undefined ? {} : { policy }), ...(output === undefined ? {} : { output: resolve(io.cwd, output) }) });
    if (io.json) io.out(JSON.stringify({ ok: true, output: r.output, files: r.files, signer: { kid: signer.kid ?? null, fingerprint: keyFingerprint(signer.publicKey) } }));
    else io.out(`rewrapped ${r.output}; new signer ${keyFingerprint(signer.publicKey)}`);
    return EXIT.OK;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// export --plaintext

const EXPORT_USAGE = 'export --plaintext <file> -o <out.safetensors> --key MASTER.jwk --trust SIGNER.jwk [--force] [--json]';

const exportCommand: CliCommand = {
  words: ['export'],
  usage: EXPORT_USAGE,
  summary: 'Decrypt a verified model file to plain safetensors (explicit --plaintext only; the output is unprotected).',
  async run(args, io) {
    if (args.flags.plaintext !== true) throw usageError(EXPORT_USAGE, 'exporting decrypted weights needs the explicit --plaintext flag');
    const target = args.positionals[0];
    const output = stringFlag(args, 'output');
    if (target === undefined || args.positionals.length > 1 || output === undefined) throw usageError(EXPORT_USAGE, 'give one input file and -o OUT');
    const keys = await masterKeys(args, io, 'key', EXPORT_USAGE);
    const trust = await trusted(args, io, EXPORT_USAGE);
    if (keys.length === 0 || trust.length === 0) throw usageError(EXPORT_USAGE, '--key and --trust are required');
    io.err('warning: writing DECRYPTED weights to disk: the output is not encrypted, not signed and not access-controlled.');
    const m = await openModel(resolve(io.cwd, target), { masterKeys: keys, trustedSigners: trust, policyEvaluator: filePolicyEvaluator });
    const dest = resolve(io.cwd, output);
    const temp = tempPathFor(dest);
    try {
      const tensors = m.offsetKeys().map((n) => m.parsed.header.byName.get(n) as TensorInfo);
      const md = m.metadata();
      const header = encodeHeader(canonicalHeaderText(md.size === 0 ? null : md, tensors));
      // Streamed one tensor at a time: never the whole model in memory.
      const fh = await open(temp, 'wx', 0o600);
      try {
        await fh.write(header, 0, header.length, 0);
        for (const t of tensors) {
          const { data } = await m.getTensor(t.name);
          await fh.write(data, 0, data.length, header.length + t.begin);
          wipe(data);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await commit(temp, dest, args.flags.force === true);
    } catch (e) {
      await removeQuietly(temp);
      throw e;
    } finally {
      await m.close();
    }
    if (io.json) io.out(JSON.stringify({ ok: true, output: dest, plaintext: true }));
    else io.out(`exported plaintext to ${output}`);
    return EXIT.OK;
  },
};

export const commands: CliCommand[] = [inspectCommand, packageCommand, verifyCommand, rewrapCommand, exportCommand];
