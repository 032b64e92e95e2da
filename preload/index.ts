/**
 * The preload: exposes `window.api`, derived from the IPC contract, and nothing else (STYLE §2, §3). Bundled into
 * one CommonJS file by scripts/build-electron.mjs. It refuses to run without context isolation: there is no
 * `window` fallback.
 */
import { contextBridge } from 'electron';
import { buildApi } from '../app/ipc/contract.ts';
import { ipcTransport } from './transport.ts';

if (!process.contextIsolated) {
  throw new Error('Model Vault refuses to start: context isolation is off, so the preload could leak privileges to the page.');
}

contextBridge.exposeInMainWorld('api', buildApi(ipcTransport));
