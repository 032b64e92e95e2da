/**
 * Licence guards: what keeps a mount serving only while the licence allows. A guard is checked before every read
 * (cheap: a stored verdict and a clock comparison) and re-evaluated on a timer, at the licence's expiry and whenever
 * its revocation source has a newer list. When it fails, reads fail with its error (LICENCE_EXPIRED,
 * LICENCE_REVOKED, LICENCE_INVALID) and the mount's owner unmounts.
 */
import { AppError, isAppError } from '../../errors.ts';
import { checkLicenceOffline, type RevocationList } from '../../broker/documents.ts';

export interface MountGuard {
  /** Throws the guard's error when the mount must stop serving. */
  check(): void;
  /** Starts re-evaluating; `onFail` is called once, with the error, when the guard fails. */
  start(onFail: (e: AppError) => void): void;
  stop(): void;
  /** The licence's summary for listings (nothing secret). */
  readonly licence?: { readonly licenceId: string; readonly notAfter: number; readonly graceSeconds: number };
}

export interface LicenceGuardOptions {
  readonly licence: unknown;
  readonly brokerPub: Uint8Array;
  readonly deviceId: string;
  /** The newest revocation list known now (verified by the caller). */
  readonly revocations?: RevocationList;
  /** Fetches a newer revocation list (e.g. a broker sync); failures keep the last known list. */
  readonly refreshRevocations?: () => Promise<RevocationList | undefined>;
  readonly refreshMs?: number;
  readonly now?: () => number;
}

export const DEFAULT_REFRESH_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A guard over a broker licence: signature, device, expiry + grace, revocations. Fails at once if invalid now. */
export function licenceGuard(o: LicenceGuardOptions): MountGuard {
  const now = o.now ?? Date.now;
  let revocations = o.revocations;
  const evaluate = (): AppError | undefined => {
    try {
      checkLicenceOffline(o.licence, { brokerPub: o.brokerPub, deviceId: o.deviceId, now: now(), revocations });
      return undefined;
    } catch (e) {
      if (isAppError(e)) return e;
      throw e;
    }
  };
  const first = evaluate();
  if (first !== undefined) throw first;
  const { licence } = checkLicenceOffline(o.licence, { brokerPub: o.brokerPub, deviceId: o.deviceId, now: now(), revocations });
  const deadline = licence.notAfter + licence.graceSeconds * 1000;
  let failure: AppError | undefined;
  let timers: ReturnType<typeof setTimeout>[] = [];
  let onFailure: ((e: AppError) => void) | undefined;
  let refreshing = false;

  const fail = (e: AppError): void => {
    if (failure !== undefined) return;
    failure = e;
    for (const t of timers) clearTimeout(t);
    timers = [];
    onFailure?.(e);
  };
  const recheck = (): void => {
    const e = evaluate();
    if (e !== undefined) fail(e);
  };

  return {
    licence: { licenceId: licence.licenceId, notAfter: licence.notAfter, graceSeconds: licence.graceSeconds },
    check() {
      if (failure === undefined && now() > deadline) fail(new AppError('LICENCE_EXPIRED', 'The licence expired (and its grace period is over). Renew the subscription and sync, then mount again.'));
      if (failure !== undefined) throw failure;
    },
    start(onFail) {
      onFailure = onFail;
      if (failure !== undefined) {
        onFail(failure);
        return;
      }
      timers.push(setTimeout(recheck, Math.min(MAX_TIMER_MS, Math.max(0, deadline - now() + 1))));
      if (o.refreshRevocations !== undefined) {
        const refresh = o.refreshRevocations;
        const tick = (): void => {
          if (refreshing || failure !== undefined) return;
          refreshing = true;
          refresh()
            .then((list) => {
              if (list !== undefined && (revocations === undefined || list.seq >= revocations.seq)) revocations = list;
              recheck();
            })
            .catch((e: unknown) => {
              if (isAppError(e) && e.code === 'LICENCE_REVOKED') fail(e);
              else recheck(); // unreachable broker: keep the last known list; expiry is still enforced
            })
            .finally(() => {
              refreshing = false;
            });
        };
        const interval = setInterval(tick, o.refreshMs ?? DEFAULT_REFRESH_MS);
        timers.push(interval);
      }
      for (const t of timers) (t as { unref?: () => void }).unref?.();
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers = [];
      onFailure = undefined;
    },
  };
}
