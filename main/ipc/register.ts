/**
 * The only code that touches ipcMain (STYLE §2): registers every contract channel onto the shared service router.
 * Each call is checked (main/ipc/guard.ts): the sender must be our own top-level frame showing our own page; then
 * the router parses the request with the contract schema and maps errors to `{ ok: false, error }`.
 */
import { ipcMain, type WebContents } from 'electron';
import { CHANNELS, PROGRESS_EVENT } from '../../app/ipc/contract.ts';
import type { Router } from '../../app/node/router.ts';
import { guardedDispatch } from './guard.ts';

export function registerIpc(router: Router, isTrustedUrl: (url: string) => boolean, windows: () => readonly WebContents[]): () => void {
  const dispatch = guardedDispatch(router, isTrustedUrl);
  for (const channel of CHANNELS) {
    ipcMain.handle(channel, (event, request: unknown) => dispatch(channel, event, request));
  }
  const unsubscribe = router.onProgress((progress) => {
    for (const contents of windows()) if (!contents.isDestroyed()) contents.send(PROGRESS_EVENT, progress);
  });
  return () => {
    unsubscribe();
    for (const channel of CHANNELS) ipcMain.removeHandler(channel);
  };
}
