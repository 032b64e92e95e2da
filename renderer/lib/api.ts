/**
 * The only module that reads `window.api` (STYLE §2). In Electron the preload provides it; in a browser served by
 * `model-vault ui` we build the same API over the HTTP transport. Components never call this directly: they use the
 * react-query hooks in renderer/queries/.
 */
import { type Api, type Result, buildApi } from '../../app/ipc/contract.ts';
import { createHttpTransport } from './http-transport.ts';

declare global {
  interface Window {
    readonly api?: Api;
  }
}

export const api: Api = window.api ?? buildApi(createHttpTransport());

/** The error a failed call carries into react-query: code plus the safe message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const result = await call;
  if (result.ok) return result.value;
  throw new ApiError(result.error.code, result.error.message);
}
