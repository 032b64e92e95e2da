/** Handlers of the subscriber operations (app/ipc/ops/subscriber.ts). */
import type { SUBSCRIBER_OPERATIONS } from '../../ipc/ops/subscriber.ts';
import type { HandlersOf } from '../router.ts';
import type { ServiceDeps } from './index.ts';

export function createSubscriberHandlers(_deps: ServiceDeps): HandlersOf<typeof SUBSCRIBER_OPERATIONS> {
  return {};
}
