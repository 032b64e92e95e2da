/** Starts a broker: opens the database (migrations), loads the KEK, initializes keys, listens on 127.0.0.1. */
import { openDb, isPostgresUrl } from './db.ts';
import type { Kek } from './kek.ts';
import { nodeSignerFor, nodeVerifierAsync, nodeX25519 } from './node-verify.ts';
import { createBrokerServer, type BrokerServer } from './server.ts';
import { BrokerService, type BrokerOptions } from './service.ts';

export interface StartOptions extends Omit<BrokerOptions, 'db' | 'kek'> {
  readonly dbSpec: string;
  readonly kek: Kek;
  readonly port?: number;
  readonly host?: string;
  readonly sqliteSync?: 'normal' | 'full';
}

export interface RunningBroker {
  readonly server: BrokerServer;
  readonly url: string;
  readonly port: number;
  readonly dbKind: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

export async function startBroker(o: StartOptions): Promise<RunningBroker> {
  const db = await openDb({ spec: o.dbSpec, ...(o.sqliteSync === undefined ? {} : { sqliteSync: o.sqliteSync }) });
  const service = new BrokerService({ ...o, db, kek: o.kek, verifier: o.verifier ?? nodeVerifierAsync, x25519: o.x25519 ?? nodeX25519, signerFor: o.signerFor ?? nodeSignerFor });
  try {
    await service.init();
  } catch (e) {
    await db.close();
    throw e;
  }
  const server = createBrokerServer(service);
  const { port, url } = await server.listen(o.port ?? 0, o.host ?? '127.0.0.1');
  return {
    server, url, port, dbKind: isPostgresUrl(o.dbSpec) ? 'postgres' : 'sqlite',
    async close(): Promise<void> {
      await server.close();
      await db.close();
    },
  };
}
