import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../lib/api.ts';

export const statusKey = ['app', 'status'] as const;

export function useAppStatus() {
  return useQuery({ queryKey: statusKey, queryFn: () => unwrap(api.app.status({})), staleTime: 10_000 });
}
