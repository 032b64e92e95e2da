/** react-query hooks of the subscriber view (app/ipc/ops/subscriber.ts). Components call these, never `api` directly. */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RequestOf, Result } from '../../app/ipc/contract.ts';
import type { ImportedModel, SubscriberVerifyView } from '../../app/ipc/ops/subscriber.ts';
import { api, unwrap } from '../lib/api.ts';

export const subscriberKeys = {
  identity: ['subscriber', 'identity'] as const,
  licences: ['subscriber', 'licences'] as const,
  models: ['subscriber', 'models'] as const,
};

export function useSubscriberIdentity() {
  return useQuery({ queryKey: subscriberKeys.identity, queryFn: () => unwrap(api.subscriber.identity({})) });
}

export function useLicences(enabled: boolean) {
  return useQuery({ queryKey: subscriberKeys.licences, queryFn: () => unwrap(api.subscriber.licences({})), enabled, staleTime: 15_000 });
}

export function useImportedModels() {
  return useQuery({ queryKey: subscriberKeys.models, queryFn: () => unwrap(api.subscriber.models({})) });
}

function useInvalidateAll() {
  const qc = useQueryClient();
  return () => {
    void qc.invalidateQueries({ queryKey: ['subscriber'] });
  };
}

export function useEnroll() {
  const invalidate = useInvalidateAll();
  return useMutation({ mutationFn: (req: RequestOf<'subscriber:enroll'>) => unwrap(api.subscriber.enroll(req)), onSettled: invalidate });
}

export function useRevokeDevice() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (deviceId: string) => unwrap(api.subscriber.revokeDevice({ deviceId })),
    onSuccess: (identity) => {
      qc.setQueryData(subscriberKeys.identity, identity);
      qc.removeQueries({ queryKey: subscriberKeys.licences });
    },
  });
}

export function useSubscribe() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (modelId: string) => unwrap(api.subscriber.subscribe({ modelId })),
    onSettled: () => void qc.invalidateQueries({ queryKey: subscriberKeys.licences }),
  });
}

export function useRemoveModel() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (localId: string) => unwrap(api.subscriber.remove({ localId })),
    onSettled: () => void qc.invalidateQueries({ queryKey: subscriberKeys.models }),
  });
}

/** Refreshes the library after an import or a verification (run through useTask). */
export function useRefreshModels() {
  const qc = useQueryClient();
  return () => void qc.invalidateQueries({ queryKey: subscriberKeys.models });
}

export const subscriberTasks = {
  import: (req: RequestOf<'subscriber:import'>): Promise<Result<ImportedModel>> => api.subscriber.import(req),
  verify: (req: RequestOf<'subscriber:verify'>): Promise<Result<SubscriberVerifyView>> => api.subscriber.verify(req),
};

/** Uploading dropped files (web host) and Electron's paths for dropped files. */
export const subscriberStaging = {
  begin: () => unwrap(api.subscriber.stageBegin({})),
  write: (req: RequestOf<'subscriber:stageWrite'>) => unwrap(api.subscriber.stageWrite(req)),
  discard: (stagingId: string) => unwrap(api.subscriber.stageDiscard({ stagingId })),
  /** Electron only: the path on disk of a dropped File; undefined in a browser. */
  pathForFile: api.pathForFile,
  /** Electron: the native folder dialog; the web host answers UNSUPPORTED. */
  openFolder: () => api.dialog.openModel({ pick: 'folder' }),
};

export function useUnlockKeyFile() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (passphrase: string) => unwrap(api.subscriber.unlock({ passphrase })),
    onSuccess: (identity) => {
      qc.setQueryData(subscriberKeys.identity, identity);
      void qc.invalidateQueries({ queryKey: subscriberKeys.licences });
      void qc.invalidateQueries({ queryKey: ['security', 'keys'] }); // the security view shares this unlock
    },
  });
}
