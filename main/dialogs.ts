/**
 * The native dialogs (issue 7 item 5), served by the Electron host for the contract's `dialog:*` operations. The web
 * host has no native dialogs: its services answer UNSUPPORTED and the renderer uses its own folder picker. Only the
 * chosen paths go back to the renderer; nothing is read here.
 */
import { type BrowserWindow, dialog } from 'electron';
import type { PRODUCER_OPERATIONS } from '../app/ipc/ops/producer.ts';
import type { HandlersOf } from '../app/node/router.ts';

type DialogOps = Pick<typeof PRODUCER_OPERATIONS, 'dialog:openModel' | 'dialog:chooseOutput'>;

export function createDialogHandlers(window: () => BrowserWindow | undefined): HandlersOf<DialogOps> {
  return {
    'dialog:openModel': async (req) => {
      const options: Electron.OpenDialogOptions =
        req.pick === 'folder'
          ? { title: 'Choose a model folder', properties: ['openDirectory'] }
          : { title: 'Choose safetensors files', properties: ['openFile', 'multiSelections'], filters: [{ name: 'Model files', extensions: ['safetensors', 'json', 'model', 'txt'] }] };
      const win = window();
      const r = win === undefined ? await dialog.showOpenDialog(options) : await dialog.showOpenDialog(win, options);
      return { paths: r.canceled ? [] : r.filePaths };
    },
    'dialog:chooseOutput': async (req) => {
      const options: Electron.SaveDialogOptions = { title: 'Where to write the protected model', defaultPath: req.suggestedName, properties: ['createDirectory', 'showOverwriteConfirmation'] };
      const win = window();
      const r = win === undefined ? await dialog.showSaveDialog(options) : await dialog.showSaveDialog(win, options);
      return { path: r.canceled || r.filePath === undefined || r.filePath === '' ? null : r.filePath };
    },
  };
}
