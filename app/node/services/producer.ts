/** Handlers of the producer operations (app/ipc/ops/producer.ts). */
import type { PRODUCER_OPERATIONS } from '../../ipc/ops/producer.ts';
import type { HandlersOf } from '../router.ts';
import type { ServiceDeps } from './index.ts';

export function createProducerHandlers(_deps: ServiceDeps): HandlersOf<typeof PRODUCER_OPERATIONS> {
  return {};
}
