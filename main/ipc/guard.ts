/**
 * The checks every IPC call passes before it reaches the router, kept free of electron imports (types only) so
 * test/main can run them without the Electron binary.
 */
import type { IpcMainInvokeEvent } from 'electron';
import type { Result } from '../../app/ipc/contract.ts';
import type { Router } from '../../app/node/router.ts';

/** The parts of an invoke event the guard looks at. */
export type SenderInfo = Pick<IpcMainInvokeEvent, 'senderFrame'> & { readonly sender: Pick<IpcMainInvokeEvent['sender'], 'mainFrame'> };

export const REFUSED_SENDER: Result<never> = { ok: false, error: { code: 'AUTH_FAILED', message: 'request refused: not from the Model Vault window' } };

/** Only our own top-level frame, showing our own page, may call. */
export function isTrustedSender(event: SenderInfo, isTrustedUrl: (url: string) => boolean): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame === event.sender.mainFrame && isTrustedUrl(frame.url);
}

export function guardedDispatch(router: Router, isTrustedUrl: (url: string) => boolean) {
  return async (channel: string, event: SenderInfo, request: unknown): Promise<Result<unknown>> => {
    if (!isTrustedSender(event, isTrustedUrl)) return REFUSED_SENDER;
    return router.dispatch(channel, request);
  };
}
