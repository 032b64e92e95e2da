/**
 * The Electron main process, kept thin: one hardened window, the application menu, single instance, and the shared
 * service router registered on ipcMain. All logic lives in app/ and app/node/.
 */
import { BrowserWindow, Menu, app, dialog, powerMonitor } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../app/node/config.ts';
import { probeKeychain } from '../app/node/keychain-status.ts';
import { BrokerSession } from '../app/node/services/broker-session.ts';
import { MountService } from '../app/node/services/mount.ts';
import { createRouter } from '../app/node/router.ts';
import { createHandlers } from '../app/node/services/index.ts';
import { createDialogHandlers } from './dialogs.ts';
import { registerIpc } from './ipc/register.ts';
import { applySecurityRestrictions } from './security-restrictions.ts';

const RENDERER_INDEX = join(__dirname, '..', 'renderer', 'index.html');
const PRELOAD = join(__dirname, '..', 'preload', 'index.cjs');
const OWN_PAGE = pathToFileURL(RENDERER_INDEX).href;

const isOwnPage = (url: string): boolean => url === OWN_PAGE || url.startsWith(`${OWN_PAGE}#`);

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 700,
    title: 'Model Vault',
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webviewTag: false,
      webSecurity: true,
      devTools: !app.isPackaged,
    },
  });
  win.once('ready-to-show', () => win.show());
  void win.loadFile(RENDERER_INDEX);
  return win;
}

function buildMenu(): void {
  const isMac = process.platform === 'darwin';
  Menu.setApplicationMenu(
    Menu.buildFromTemplate([
      ...(isMac ? [{ role: 'appMenu' as const }] : []),
      { role: 'fileMenu' },
      { role: 'editMenu' },
      { role: 'viewMenu' },
      { role: 'windowMenu' },
      {
        role: 'help',
        submenu: [
          {
            label: 'About Model Vault',
            click: () => void dialog.showMessageBox({ message: `Model Vault ${app.getVersion()}`, detail: 'Encrypted, signed distribution of confidential model weights.' }),
          },
        ],
      },
    ]),
  );
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  applySecurityRestrictions(isOwnPage);
  let mainWindow: BrowserWindow | undefined;
  app.on('second-instance', () => {
    if (mainWindow === undefined) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app
    .whenReady()
    .then(() => {
      buildMenu();
      const config = loadConfig();
      const brokerSession = new BrokerSession({ config, env: process.env });
      const mounts = new MountService({ env: process.env });
      let unmounted = false;
      app.on('will-quit', (event) => {
        // Unmount first (a FUSE mount must not outlive this process), then quit again.
        if (!unmounted) {
          event.preventDefault();
          void mounts.close().finally(() => {
            unmounted = true;
            app.quit();
          });
          return;
        }
        brokerSession.close().catch(() => undefined);
      });
      powerMonitor.on('lock-screen', () => {
        void mounts.lock();
      });
      // The shared services, plus the native dialogs only this host can show (main/dialogs.ts).
      const router = createRouter({ ...createHandlers({ config, host: 'electron', probeKeychain, brokerSession, mounts }), ...createDialogHandlers(() => mainWindow) });
      registerIpc(router, isOwnPage, () => BrowserWindow.getAllWindows().map((w) => w.webContents));
      mainWindow = createWindow();
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
      });
    })
    .catch((e: unknown) => {
      dialog.showErrorBox('Model Vault could not start', e instanceof Error ? e.message : 'unknown error');
      app.exit(1);
    });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}
