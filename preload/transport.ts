/**
 * The Electron transport: invoke/handle for requests, one event channel for progress. Only contract channels can be
 * invoked (the contract's `isChannel` check); callbacks receive the payload, never the Electron event, and every
 * subscription returns a working unsubscribe.
 */
import { ipcRenderer, type IpcRendererEvent } from 'electron';
import { type Result, type Transport, PROGRESS_EVENT, isChannel } from '../app/ipc/contract.ts';

export const ipcTransport: Transport = {
  async invoke(channel, request) {
    if (!isChannel(channel)) return { ok: false, error: { code: 'VALIDATION', message: 'unknown operation: not in the IPC contract' } };
    return (await ipcRenderer.invoke(channel, request)) as Result<unknown>;
  },
  subscribe(event, callback) {
    if (event !== PROGRESS_EVENT) return () => undefined;
    const listener = (_e: IpcRendererEvent, payload: unknown): void => callback(payload);
    ipcRenderer.on(PROGRESS_EVENT, listener);
    return () => {
      ipcRenderer.removeListener(PROGRESS_EVENT, listener);
    };
  },
};
