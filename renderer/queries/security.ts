/** react-query hooks of the security view (app/ipc/ops/security.ts). Components call these, never `api` directly. */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RequestOf } from '../../app/ipc/contract.ts';
import { api, unwrap } from '../lib/api.ts';

export const securityKeys = {
  keys: ['security', 'keys'] as const,
  audit: (filter: RequestOf<'security:audit'>) => ['security', 'audit', filter] as const,
  auditAll: ['security', 'audit'] as const,
};

export function useKeyInventory() {
  return useQuery({ queryKey: securityKeys.keys, queryFn: () => unwrap(api.security.keys({})) });
}

export function useAuditLog(filter: RequestOf<'security:audit'>) {
  return useQuery({ queryKey: securityKeys.audit(filter), queryFn: () => unwrap(api.security.audit(filter)), placeholderData: (prev) => prev });
}

/** After any act: the inventory (last use, keyset states) and the audit log change. */
function useInvalidate() {
  const qc = useQueryClient();
  return () => {
    void qc.invalidateQueries({ queryKey: securityKeys.keys });
    void qc.invalidateQueries({ queryKey: securityKeys.auditAll });
  };
}

export function useCreateKey() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (req: RequestOf<'security:createKey'>) => unwrap(api.security.createKey(req)), onSettled: invalidate });
}

export function useKeysetAction() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (req: RequestOf<'security:keyset'>) => unwrap(api.security.keyset(req)), onSettled: invalidate });
}

export function useUnlockKeystore() {
  const invalidate = useInvalidate();
  const qc = useQueryClient();
  // One unlock for the whole app: the subscriber view's device key is in the same keystore, so it stops asking.
  return useMutation({ mutationFn: (req: RequestOf<'security:unlock'>) => unwrap(api.security.unlock(req)), onSettled: () => {
    invalidate();
    void qc.invalidateQueries({ queryKey: ['subscriber'] });
  } });
}

export function useScanFolder() {
  return useMutation({ mutationFn: (req: RequestOf<'security:scan'>) => unwrap(api.security.scan(req)) });
}

export function usePlanRotation() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (req: RequestOf<'security:plan'>) => unwrap(api.security.plan(req)), onSettled: invalidate });
}

export function useExportBundle() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (req: RequestOf<'security:exportBundle'>) => unwrap(api.security.exportBundle(req)), onSettled: invalidate });
}

export function useSignCheckpoint() {
  const invalidate = useInvalidate();
  return useMutation({ mutationFn: (req: RequestOf<'security:checkpoint'>) => unwrap(api.security.checkpoint(req)), onSettled: invalidate });
}

/** The rotation itself runs as a task (useTask); this refreshes what it changed. */
/** The app's broker and producer enrollment (where the wizard sends bundles); refreshed with the producer's state. */
export function useBrokerTarget() {
  return useQuery({ queryKey: ['security', 'broker-target'] as const, queryFn: () => unwrap(api.security.brokerTarget({})) });
}

export function useRotationDone() {
  return useInvalidate();
}

export function readBundle(bundleId: string) {
  return unwrap(api.security.bundle({ bundleId }));
}

/** Native dialogs exist only in the Electron shell (the producer view's `dialog:*` operations); null elsewhere. */
export async function chooseFolder(): Promise<string | null> {
  const r = await api.dialog.openModel({ pick: 'folder' });
  return r.ok ? (r.value.paths[0] ?? null) : null;
}

export async function chooseSavePath(suggestedName: string): Promise<string | null> {
  const r = await api.dialog.chooseOutput({ suggestedName });
  return r.ok ? r.value.path : null;
}
