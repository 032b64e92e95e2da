/**
 * The preload: exposes `window.api`, derived from the IPC contract, and nothing else (STYLE §2, §3). Bundled into
 * one CommonJS file by scripts/build-electron.mjs. It refuses to run without context isolation: there is no
 * `window` fallback.
 */
import { contextBridge, webUtils } from 'electron';
import { buildApi } from '../app/ipc/contract.ts';
import { ipcTransport } from './transport.ts';

if (!process.contextIsolated) {
  throw new Error('Model Vault refuses to start: context isolation is off, so the preload could leak privileges to the page.');
}

/** A dropped File's path: an intent ("where is the file the user dropped"), not file access; main re-checks it. */
const pathForFile = (file: unknown): string => webUtils.getPathForFile(file as File);

contextBridge.exposeInMainWorld('api', { ...buildApi(ipcTransport), pathForFile });
