/** The broker schema as numbered migrations: portable SQL that SQLite and PostgreSQL both accept unchanged. */
import { GENESIS_HASH } from '../../audit/entry.ts';

export interface Migration {
  readonly version: number;
  readonly statements: readonly string[];
}

const ZERO_HASH = '0'.repeat(64);

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    statements: [
      'CREATE TABLE broker_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)',
      'CREATE TABLE secrets (id TEXT PRIMARY KEY, purpose TEXT NOT NULL, kek_id TEXT NOT NULL, nonce TEXT NOT NULL, ciphertext TEXT NOT NULL)',
      'CREATE TABLE identities (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, admin INTEGER NOT NULL, created_at BIGINT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)',
      'CREATE TABLE devices (id TEXT PRIMARY KEY, identity_id TEXT NOT NULL REFERENCES identities(id), sign_pub TEXT NOT NULL, box_pub TEXT NOT NULL, label TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT)',
      'CREATE INDEX devices_identity ON devices (identity_id)',
      'CREATE TABLE invites (code_hash TEXT PRIMARY KEY, role TEXT NOT NULL, created_by TEXT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT)',
      'CREATE TABLE nonces (device_id TEXT NOT NULL, nonce TEXT NOT NULL, seen_at BIGINT NOT NULL, PRIMARY KEY (device_id, nonce))',
      'CREATE INDEX nonces_seen ON nonces (seen_at)',
      'CREATE TABLE models (id TEXT PRIMARY KEY, producer_id TEXT NOT NULL REFERENCES identities(id), name TEXT NOT NULL, alg TEXT NOT NULL, enc_kid TEXT, sign_pub TEXT NOT NULL, policy TEXT NOT NULL, manifest TEXT, mode TEXT NOT NULL, duration_s BIGINT NOT NULL, device_limit INTEGER NOT NULL, grace_s BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)',
      'CREATE TABLE model_files (model_id TEXT NOT NULL REFERENCES models(id), path TEXT NOT NULL, header TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (model_id, path))',
      'CREATE TABLE subscriptions (id TEXT PRIMARY KEY, model_id TEXT NOT NULL REFERENCES models(id), subscriber_id TEXT NOT NULL REFERENCES identities(id), status TEXT NOT NULL, created_at BIGINT NOT NULL, activated_at BIGINT, expires_at BIGINT, revoked_at BIGINT, key_kid TEXT)',
      'CREATE INDEX subscriptions_subscriber ON subscriptions (subscriber_id, model_id)',
      'CREATE INDEX subscriptions_model ON subscriptions (model_id)',
      'CREATE TABLE subscription_devices (subscription_id TEXT NOT NULL REFERENCES subscriptions(id), device_id TEXT NOT NULL REFERENCES devices(id), PRIMARY KEY (subscription_id, device_id))',
      'CREATE TABLE personal_headers (subscription_id TEXT NOT NULL REFERENCES subscriptions(id), path TEXT NOT NULL, header TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (subscription_id, path))',
      'CREATE TABLE licences (id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL REFERENCES subscriptions(id), document TEXT NOT NULL, issued_at BIGINT NOT NULL, current INTEGER NOT NULL)',
      'CREATE INDEX licences_subscription ON licences (subscription_id, current)',
      'CREATE TABLE revocations (seq BIGINT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, at BIGINT NOT NULL, reason TEXT NOT NULL)',
      'CREATE TABLE challenges (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, model_id TEXT NOT NULL, challenge TEXT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT)',
      'CREATE TABLE tickets (id_hash TEXT PRIMARY KEY, device_id TEXT NOT NULL, subscription_id TEXT NOT NULL, model_id TEXT NOT NULL, expires_at BIGINT NOT NULL, attempts INTEGER NOT NULL, used_at BIGINT)',
      'CREATE TABLE audit (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, model TEXT, result TEXT NOT NULL, details TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)',
      'CREATE INDEX audit_model ON audit (model, seq)',
      'CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)',
      `INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${ZERO_HASH}')`,
    ],
  },
  {
    // The audit log in the app's entry format, one chain per model plus the `broker` chain (README §9). Each row keeps
    // the entry's canonical line exactly as hashed; `audit_chains` is the head of each chain, locked by every append.
    // The version-1 `audit` table (its own entry format) is kept, renamed, for reading; it is no longer written.
    version: 2,
    statements: [
      'ALTER TABLE audit RENAME TO audit_v1',
      'DROP TABLE audit_head',
      'CREATE TABLE audit_entries (chain TEXT NOT NULL, seq BIGINT NOT NULL, line TEXT NOT NULL, PRIMARY KEY (chain, seq))',
      'CREATE TABLE audit_chains (chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, since_checkpoint INTEGER NOT NULL)',
      `INSERT INTO audit_chains (chain, seq, hash, since_checkpoint) VALUES ('broker', 0, '${GENESIS_HASH}', 0)`,
      `INSERT INTO audit_chains (chain, seq, hash, since_checkpoint) SELECT 'model:' || id, 0, '${GENESIS_HASH}', 0 FROM models`,
      // revocation list numbers are allocated under this row's lock (they were under the old audit head's)
      "INSERT INTO broker_meta (k, v) VALUES ('revocations.lock', '')",
    ],
  },
  {
    // Shared fixed-window rate limits (README §3 step 6): one row per identity and window, so every instance on one
    // database counts the same requests.
    version: 3,
    statements: [
      'CREATE TABLE rate_windows (identity_id TEXT NOT NULL, window_start BIGINT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (identity_id, window_start))',
      'CREATE INDEX rate_windows_start ON rate_windows (window_start)',
    ],
  },
];
