/** The app-level commands: status, ui. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../errors.ts';
import { loadConfig } from '../config.ts';
import { probeKeychain } from '../keychain-status.ts';
import { RENDERER_CONFIG, RENDERER_DIST } from '../paths.ts';
import { BrokerSession } from '../services/broker-session.ts';
import { MountService } from '../services/mount.ts';
import { createServiceRouter } from '../services/index.ts';
import { getStatus } from '../services/status.ts';
import { startWebHost } from '../web/host.ts';
type ViteModule = typeof import('vite'); // eslint-disable-line @typescript-eslint/consistent-type-imports -- a lazily imported devDependency
import { stringFlag } from './args.ts';
import { usageError } from './usage.ts';
import { type CliCommand, type CliIo, EXIT } from './types.ts';

const statusCommand: CliCommand = {
  words: ['status'],
  usage: 'status [--json]',
  summary: 'Show the version, data directory, keychain availability and broker mode.',
  async run(_args, io) {
    const config = loadConfig(io.env);
    const status = await getStatus({ config, host: 'web', probeKeychain });
    if (io.json) {
      io.out(JSON.stringify({ ok: true, status: { ...status, host: undefined } }));
      return EXIT.OK;
    }
    io.out(
      [
        `${status.name} ${status.version} (${status.runtime}, ${status.platform})`,
        `data directory: ${status.dataDir}`,
        `keychain:       ${status.keychain.available ? 'available' : 'unavailable'} — ${status.keychain.backend}${status.keychain.reason === undefined ? '' : `: ${status.keychain.reason}`}`,
        `broker:         ${status.broker.mode} (${status.broker.location})`,
      ].join('\n'),
    );
    return EXIT.OK;
  },
};

async function ensureRendererBuilt(io: CliIo): Promise<void> {
  if (existsSync(join(RENDERER_DIST, 'index.html'))) return;
  io.err('The renderer is not built yet: building it now (one time, about half a minute)…');
  let vite: ViteModule;
  try {
    vite = await import('vite');
  } catch {
    throw new AppError('NOT_FOUND', 'The renderer is not built and Vite is not installed: run `npm install` and `npm run build:renderer` in the Model Vault folder.');
  }
  await vite.build({ configFile: RENDERER_CONFIG, logLevel: 'warn' });
}

function openBrowser(url: string, io: CliIo): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => io.err(`Could not start a browser (${opener}); open the URL above yourself.`));
    child.unref();
  } catch {
    io.err(`Could not start a browser (${opener}); open the URL above yourself.`);
  }
}

const uiCommand: CliCommand = {
  words: ['ui'],
  usage: 'ui [--port N] [--no-open] [--json]',
  summary: 'Serve the Model Vault interface on 127.0.0.1 (for machines without a display or Electron).',
  help: [
    'Starts the web host: the same renderer and services as the desktop app, over loopback HTTP, protected by a',
    'per-launch token carried in the printed URL (treat the URL like a password). Stops on Ctrl-C.',
    '',
    '  --port N     port to listen on (0 or absent: a free port)',
    '  --no-open    do not open a browser',
    '  --json       print {"url": …} as one JSON line once listening',
  ].join('\n'),
  async run(args, io) {
    const portText = stringFlag(args, 'port');
    const port = portText === undefined ? 0 : Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(uiCommand.usage, '--port takes a number from 0 to 65535');
    await ensureRendererBuilt(io);
    const config = loadConfig(io.env);
    const brokerSession = new BrokerSession({ config, env: io.env });
    const mounts = new MountService({ env: io.env });
    const router = createServiceRouter({ config, host: 'web', probeKeychain, brokerSession, mounts });
    const host = await startWebHost({ router, rendererDir: RENDERER_DIST, port });
    if (io.json) io.out(JSON.stringify({ ok: true, url: host.launchUrl }));
    else {
      io.out(`Model Vault is running at ${host.launchUrl}`);
      io.err('The URL carries a session token: do not share it. Press Ctrl-C to stop.');
    }
    if (args.flags['no-open'] !== true) openBrowser(host.launchUrl, io);
    await new Promise<void>((resolveStop) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolveStop();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await host.close();
    await mounts.close();
    await brokerSession.close();
    return EXIT.OK;
  },
};

export const commands: readonly CliCommand[] = [statusCommand, uiCommand];
