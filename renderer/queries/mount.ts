/** react-query hooks of the mounts panel (app/ipc/ops/mount.ts). Components call these, never `api` directly. */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RequestOf, Result } from '../../app/ipc/contract.ts';
import { api, unwrap } from '../lib/api.ts';

export const mountKeys = { list: ['mount', 'list'] as const };

/** Active mounts; refreshed every few seconds (a licence expiry or another process can change them). */
export function useMounts() {
  return useQuery({ queryKey: mountKeys.list, queryFn: () => unwrap(api.mount.list({})), refetchInterval: 3000 });
}

export function useStopMount() {
  const qc = useQueryClient();
  return useMutation({ mutationFn: (req: RequestOf<'mount:stop'>) => unwrap(api.mount.stop(req)), onSettled: () => void qc.invalidateQueries({ queryKey: mountKeys.list }) });
}

/** Starts a mount through a task (`run` comes from useTask()). */
export function useStartMount() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ run, req }: { run: <T>(call: (taskId: string) => Promise<Result<T>>) => Promise<Result<T>>; req: Omit<RequestOf<'mount:start'>, 'taskId'> }) => unwrap(run((taskId) => api.mount.start({ ...req, taskId }))),
    onSettled: () => void qc.invalidateQueries({ queryKey: mountKeys.list }),
  });
}
