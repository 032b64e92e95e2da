/**
 * The phantom marker that carries an operation's response type through the contract object (app/ipc/contract.ts and
 * the per-domain operation tables in app/ipc/ops/). May import nothing: the preload bundles it.
 */
export interface ResponseOf<T> {
  readonly __response?: T;
}

export function response<T>(): ResponseOf<T> {
  return {};
}
