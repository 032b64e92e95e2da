/**
 * `model-vault mount | unmount | mounts` (issue 8): serve a verified model to a local inference runtime without
 * plaintext on disk. `mount` runs in the foreground until Ctrl-C (SIGINT), SIGTERM, `model-vault unmount`, or its
 * licence fails, then unmounts cleanly. `mounts` and `unmount` work from any process through the registry in the
 * private runtime folder (app/node/mount/runtime.ts). Nothing secret is printed: the HTTP token and the released
 * key are in 0600 files, and the printed commands read them with `$(cat …)`.
 */
import { spawn } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AppError, isAppError } from '../../errors.ts';
import { filePolicyEvaluator } from '../../policy/file-policy.ts';
import { profileDevice, releaseFromBroker } from '../mount/broker-keys.ts';
import { localMountKeys } from '../mount/keys.ts';
import { MountManager, cleanStale, requestUnmount, type MountInfo, type StopReason } from '../mount/manager.ts';
import { MOUNT_MODES, MountRegistry, type MountMode } from '../mount/runtime.ts';
import { REFERENCE_KEYS_ENV } from '../mount/keys-mode.ts';
import { stringFlag } from './args.ts';
import { usageError } from './usage.ts';
import { type CliCommand, type CliIo, type ParsedArgs, EXIT } from './types.ts';

const MOUNT_USAGE = 'mount <model> [--at DIR] [--mode fuse|http|keys] [--key-file JWK]... [--trust JWK]... [--model-id ID [--profile P]] [--port N] [--cache-mb N] [--json] [-- COMMAND...]';

function strings(args: ParsedArgs, name: string, usage: string): string[] {
  return (args.all[name] ?? []).map((v) => {
    if (typeof v !== 'string') throw usageError(usage, `--${name} needs a value`);
    return v;
  });
}

function intFlag(args: ParsedArgs, name: string, usage: string, max: number): number | undefined {
  const s = stringFlag(args, name);
  if (s === undefined) {
    if (args.flags[name] === true) throw usageError(usage, `--${name} needs a number`);
    return undefined;
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw usageError(usage, `--${name} must be an integer from 0 to ${String(max)}`);
  return n;
}

function describe(info: MountInfo): string[] {
  const lines = [`mounted ${info.model} (${info.mode}, id ${info.id}, ${String(info.files.length)} files${info.signer === undefined ? '' : `, signer ${info.signer}`})`];
  if (info.mountpoint !== undefined) lines.push(`folder:  ${info.mountpoint}`);
  if (info.url !== undefined) lines.push(`url:     ${info.url}  (Authorization: Bearer <the token in ${info.tokenFile ?? '?'}>)`);
  if (info.keysFile !== undefined) lines.push(`keys:    ${info.keysFile}  (0600, on tmpfs; removed on unmount)`);
  if (info.licence !== undefined) lines.push(`licence: ${info.licence.licenceId} until ${new Date(info.licence.notAfter).toISOString()}`);
  lines.push('environment:');
  for (const [k, v] of Object.entries(info.connect.env)) lines.push(`  export ${k}="${v}"`);
  lines.push('example:', `  ${info.connect.command}`);
  return lines;
}

const mountCommand: CliCommand = {
  words: ['mount'],
  usage: MOUNT_USAGE,
  summary: 'Mount a verified model for a local inference runtime (FUSE folder, loopback HTTP, or key release); runs until Ctrl-C.',
  help: [
    'Modes:',
    '  fuse (default)  a read-only folder: shards decrypted on read into plain safetensors, side files as signed;',
    '                  direct_io (no plaintext in the page cache); default folder in the private runtime folder',
    '  http            the same files on 127.0.0.1 with a per-mount bearer token and Range requests',
    "  keys            the model's key as the reference's JWK Set in a 0600 file on tmpfs, for runtimes that load",
    '                  CryptoTensors themselves (CRYPTOTENSOR_KEYS); with `-- COMMAND` the command is run with the',
    '                  variable set for it alone, and the mount ends when it exits',
    'Keys: --key-file JWK and --trust JWK, else the key sources (keychain, file keystore, MODEL_VAULT_KEYS …) and',
    'the trust store; or --model-id ID to have the broker release the subscriber key to this device (profile from',
    '`model-vault broker enroll`, --profile to choose another), the licence then guarding the mount.',
    'The mount stops on Ctrl-C, SIGTERM, `model-vault unmount <id>`, licence expiry or revocation.',
    '  --at DIR       fuse: mount on DIR instead of the private runtime folder; DIR must be an empty folder of yours',
    '                 (or not exist yet) that no one else can write to, under folders owned by you or root that no',
    '                 one else can write to unless sticky (as /tmp)',
    '  --cache-mb N   plaintext cache budget in MiB (default 64)',
  ].join('\n'),
  async run(args, io) {
    const model = args.positionals[0];
    if (model === undefined) throw usageError(MOUNT_USAGE, 'give the packaged model folder or file');
    const command = args.positionals.slice(1);
    const mode = (stringFlag(args, 'mode') ?? 'fuse') as MountMode;
    if (!MOUNT_MODES.includes(mode)) throw usageError(MOUNT_USAGE, '--mode must be fuse, http or keys');
    if (command.length > 0 && mode !== 'keys') throw usageError(MOUNT_USAGE, 'a COMMAND after -- is run only in --mode keys');
    const at = stringFlag(args, 'at');
    if (at !== undefined && mode !== 'fuse') throw usageError(MOUNT_USAGE, '--at is for --mode fuse');
    const cacheMb = intFlag(args, 'cache-mb', MOUNT_USAGE, 65536);
    const port = intFlag(args, 'port', MOUNT_USAGE, 65535);
    const modelPath = resolve(io.cwd, model);
    const modelId = stringFlag(args, 'model-id');
    const profile = stringFlag(args, 'profile');
    const broker = modelId === undefined ? undefined : await releaseFromBroker({ model: modelPath, modelId, device: await profileDevice(io.env, profile === undefined ? undefined : resolve(io.cwd, profile)) });
    const keys = broker?.keys ?? (await localMountKeys({ model: modelPath, env: io.env, keyFiles: strings(args, 'key-file', MOUNT_USAGE).map((f) => resolve(io.cwd, f)), trustFiles: strings(args, 'trust', MOUNT_USAGE).map((f) => resolve(io.cwd, f)) }));

    let done: (r: { reason: StopReason; error?: AppError }) => void = () => undefined;
    const stopped = new Promise<{ reason: StopReason; error?: AppError }>((r) => {
      done = r;
    });
    const manager = await MountManager.create({ env: io.env, owner: 'cli', onStopped: (_info, reason, error) => done({ reason, ...(error === undefined ? {} : { error }) }) });
    const info = await manager.start({
      model: modelPath,
      mode,
      keys,
      policyEvaluator: filePolicyEvaluator,
      ...(at === undefined ? {} : { at: resolve(io.cwd, at) }),
      ...(cacheMb === undefined ? {} : { cacheBytes: cacheMb * 1024 * 1024 }),
      ...(port === undefined ? {} : { port }),
      ...(broker === undefined ? {} : { guard: broker.guard, headerOverrides: broker.headerOverrides }),
    });
    broker?.close();
    const onSignal = (): void => {
      manager.stopAll('request').catch(() => undefined);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (io.json) io.out(JSON.stringify({ ok: true, mount: info }));
      else for (const l of describe(info)) io.out(l);
      if (command.length > 0 && info.keysFile !== undefined) {
        const code = await runWithKeys(command, info.keysFile, io);
        await manager.stopAll('request');
        return code;
      }
      io.err(`serving until Ctrl-C or \`model-vault unmount ${info.id}\``);
      const end = await stopped;
      if (end.error !== undefined) {
        io.err(`unmounted: [${end.error.code}] ${end.error.message}`);
        return EXIT.ERROR;
      }
      io.err('unmounted');
      return EXIT.OK;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      await manager.stopAll('shutdown');
    }
  },
};

/** Runs the runtime with the released keys in its environment alone (asynchronously: never block a serving loop). */
async function runWithKeys(command: readonly string[], keysFile: string, io: CliIo): Promise<number> {
  const [cmd, ...rest] = command as [string, ...string[]];
  const keys = await readFile(keysFile, 'utf8');
  io.err(`running ${cmd} with ${REFERENCE_KEYS_ENV} set for it alone`);
  const child = spawn(cmd, rest, { stdio: ['inherit', 'inherit', 'inherit'], env: { ...io.env, [REFERENCE_KEYS_ENV]: keys.trim() }, cwd: io.cwd });
  return new Promise<number>((res) => {
    child.once('error', (e) => {
      io.err(`could not run ${cmd}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
      res(EXIT.ERROR);
    });
    child.once('exit', (code) => res(code ?? EXIT.ERROR));
  });
}

const UNMOUNT_USAGE = 'unmount <id|folder> | --all [--json]';

const unmountCommand: CliCommand = {
  words: ['unmount'],
  usage: UNMOUNT_USAGE,
  summary: 'Unmount a model mounted by any Model Vault process (by id or folder), or --all.',
  async run(args, io) {
    const target = args.positionals[0];
    const all = args.flags.all === true || target === '--all';
    if (target === undefined && !all) throw usageError(UNMOUNT_USAGE, 'give a mount id or folder, or --all');
    const registry = await MountRegistry.open(io.env);
    const entries = (await registry.list()).map((x) => x.entry);
    // A folder given by a path through a symbolic link: mounts are registered on the real path (see prepareMountpoint).
    const folder = resolve(io.cwd, target ?? '');
    const realFolder = await realpath(dirname(folder)).then((d) => join(d, basename(folder)), () => folder);
    const chosen = all ? entries : entries.filter((e) => e.id === target || (e.mountpoint !== undefined && (e.mountpoint === folder || e.mountpoint === realFolder)));
    if (chosen.length === 0 && !all) throw new AppError('NOT_FOUND', `No active mount matches ${target ?? ''}. List mounts with \`model-vault mounts\`.`);
    const results: { id: string; result: string }[] = [];
    for (const e of chosen) results.push({ id: e.id, result: await requestUnmount(registry, e.id) });
    if (io.json) io.out(JSON.stringify({ ok: true, unmounted: results }));
    else io.out(results.length === 0 ? 'no active mounts' : results.map((r) => `${r.id}: ${r.result === 'cleaned' ? 'cleaned up (its process had exited)' : 'unmounted'}`).join('\n'));
    return EXIT.OK;
  },
};

const mountsCommand: CliCommand = {
  words: ['mounts'],
  usage: 'mounts [--json]',
  summary: 'List the active mounts of every Model Vault process (stale ones, whose process exited, are cleaned up).',
  async run(_args, io) {
    const registry = await MountRegistry.open(io.env);
    const rows = [];
    let cleaned = 0;
    for (const { entry, alive } of await registry.list()) {
      if (!alive) {
        await cleanStale(registry, entry).catch((e: unknown) => io.err(`could not clean up mount ${entry.id}: ${isAppError(e) ? e.message : 'error'}`));
        cleaned++;
        continue;
      }
      const { format: _f, version: _v, ...row } = entry;
      rows.push(row);
    }
    if (io.json) io.out(JSON.stringify({ ok: true, mounts: rows, cleaned }));
    else {
      if (rows.length === 0) io.out('no active mounts');
      for (const r of rows) io.out(`${r.id}  ${r.mode.padEnd(4)}  ${r.mountpoint ?? r.url ?? r.keysFile ?? ''}  ${r.model}  (pid ${String(r.pid)}, ${r.owner})`);
      if (cleaned > 0) io.err(`cleaned up ${String(cleaned)} stale mount(s) whose process had exited`);
    }
    return EXIT.OK;
  },
};

export const commands: readonly CliCommand[] = [mountCommand, unmountCommand, mountsCommand];
