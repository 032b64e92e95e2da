/**
 * One storage port for the broker, two adapters: SQLite (better-sqlite3, WAL, the default) and PostgreSQL (pg).
 * Same schema, same SQL: queries use `?` placeholders (rewritten to `$n` for PostgreSQL), integers are BIGINT
 * (returned as JS numbers by both), bytes are stored as base64url TEXT. Transactions: SQLite runs everything through
 * one queue with group commit (see SqliteDb); PostgreSQL uses a pooled client per transaction.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { AppError } from '../../errors.ts';
import { MIGRATIONS } from './schema.ts';

export type Param = string | number | null;
export type Row = Record<string, unknown>;

export interface Sql {
  all(sql: string, params?: readonly Param[]): Promise<Row[]>;
  get(sql: string, params?: readonly Param[]): Promise<Row | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly Param[]): Promise<number>;
}

export interface Db extends Sql {
  readonly kind: 'sqlite' | 'postgres';
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (q: Sql) => Promise<T>): Promise<T>;
  /** Locks the audit head row for the rest of the transaction (PostgreSQL: FOR UPDATE; SQLite: the write lock). */
  readonly lockClause: string;
  close(): Promise<void>;
}

function storageError(e: unknown): AppError {
  const code = (e as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505') return new AppError('ALREADY_EXISTS', 'That record already exists.');
  if (code === 'SQLITE_BUSY' || code === '40001' || code === '40P01') return new AppError('IO_ERROR', 'The broker database is busy. Retry the request.');
  return new AppError('IO_ERROR', 'The broker database failed. Check the broker log and the database.', { cause: e });
}

// ---- SQLite ---------------------------------------------------------------------------------------------------

/** One queued unit of work: a read, a single write, or a transaction function. */
interface Job {
  readonly kind: 'read' | 'write' | 'tx';
  readonly run: (q: Sql) => Promise<unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * SQLite through one connection with **group commit**: the work queued during one turn of the event loop (and while a
 * group runs) executes in order inside one `BEGIN IMMEDIATE … COMMIT`, each transaction function inside its own
 * SAVEPOINT (a throwing function rolls back only its own changes, as a transaction of its own would; a failed single
 * statement is backed out by SQLite itself). Every caller's promise settles only after the group's COMMIT: an
 * acknowledged write is as durable as before, and a failed COMMIT fails every member. Concurrent requests then share
 * one WAL commit instead of paying one each (README §11). Groups of reads only run without a transaction.
 */
class SqliteDb implements Db {
  readonly kind = 'sqlite' as const;
  readonly lockClause = '';
  private readonly db: Database.Database;
  private readonly stmts = new Map<string, Database.Statement>();
  private pending: Job[] = [];
  private draining: Promise<void> | null = null;
  private readonly direct: Sql;

  constructor(path: string, sync: 'normal' | 'full') {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.direct = {
      all: async (sql, params = []) => this.stmt(sql).all(...params) as Row[],
      get: async (sql, params = []) => this.stmt(sql).get(...params) as Row | undefined,
      run: async (sql, params = []) => this.stmt(sql).run(...params).changes,
    };
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (s === undefined) {
      try {
        s = this.db.prepare(sql);
      } catch (e) {
        throw storageError(e);
      }
      this.stmts.set(sql, s);
    }
    return s;
  }

  private submit<T>(kind: Job['kind'], run: (q: Sql) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ kind, run, resolve: resolve as (v: unknown) => void, reject });
      this.draining ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r)); // let this turn's requests join the group
    while (this.pending.length > 0) {
      const jobs = this.pending;
      this.pending = [];
      await this.runGroup(jobs);
    }
    this.draining = null;
  }

  private async runGroup(jobs: readonly Job[]): Promise<void> {
    const writes = jobs.some((j) => j.kind !== 'read');
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      if (writes) this.stmt('BEGIN IMMEDIATE').run();
      for (const job of jobs) {
        if (job.kind === 'read') {
          try {
            outcomes.push({ ok: true, value: await job.run(this.direct) });
          } catch (e) {
            outcomes.push({ ok: false, error: e });
          }
          continue;
        }
        // A single statement needs no savepoint: SQLite backs out a failed statement and keeps the transaction; so
        // does a lone transaction function (the group is its transaction).
        const savepoint = job.kind === 'tx' && jobs.length > 1;
        if (savepoint) this.stmt('SAVEPOINT mv_job').run();
        try {
          const value = await job.run(this.direct);
          if (savepoint) this.stmt('RELEASE mv_job').run();
          outcomes.push({ ok: true, value });
        } catch (e) {
          // SQLite may have ended the whole transaction (disk full, I/O error): then the group fails as one
          if (!this.db.inTransaction) throw e;
          if (savepoint) {
            this.stmt('ROLLBACK TO mv_job').run();
            this.stmt('RELEASE mv_job').run();
          } else if (job.kind === 'tx') {
            throw e; // the lone transaction function failed: roll the group (only it) back below
          }
          outcomes.push({ ok: false, error: e });
        }
      }
      if (writes) this.stmt('COMMIT').run();
    } catch (e) {
      if (this.db.inTransaction) {
        try {
          this.stmt('ROLLBACK').run();
        } catch {
          // the connection reports the original error below
        }
      }
      const error = e instanceof AppError ? e : storageError(e);
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const o = outcomes[i] as (typeof outcomes)[number];
      if (o.ok) job.resolve(o.value);
      else job.reject(o.error instanceof AppError ? o.error : storageError(o.error));
    });
  }

  all(sql: string, params?: readonly Param[]): Promise<Row[]> {
    return this.submit('read', (q) => q.all(sql, params));
  }
  get(sql: string, params?: readonly Param[]): Promise<Row | undefined> {
    return this.submit('read', (q) => q.get(sql, params));
  }
  run(sql: string, params?: readonly Param[]): Promise<number> {
    return this.submit('write', (q) => q.run(sql, params));
  }

  tx<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    return this.submit('tx', fn);
  }

  execScript(sql: string): void {
    this.db.exec(sql);
  }

  async close(): Promise<void> {
    while (this.draining !== null) await this.draining;
    this.db.close();
  }
}

// ---- PostgreSQL -----------------------------------------------------------------------------------------------

function toPg(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/**
 * Every query runs as a named prepared statement: PostgreSQL parses and plans it once per pooled connection instead
 * of on every call, and the `?` → `$n` rewrite is done once per query text.
 */
const prepared = new Map<string, { name: string; text: string }>();
function preparedOf(sql: string): { name: string; text: string } {
  let p = prepared.get(sql);
  if (p === undefined) {
    p = { name: `mv_q${prepared.size + 1}`, text: toPg(sql) };
    prepared.set(sql, p);
  }
  return p;
}

const INT8_OID = 20;
const pgTypes = {
  getTypeParser: (oid: number, format?: string): ((value: string) => unknown) => {
    if (oid === INT8_OID) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown;
  },
};

class PgDb implements Db {
  readonly kind = 'postgres' as const;
  readonly lockClause = ' FOR UPDATE';
  readonly pool: pg.Pool;

  constructor(url: string, poolSize: number) {
    this.pool = new pg.Pool({ connectionString: url, max: poolSize, types: pgTypes });
    this.pool.on('error', () => undefined); // idle client errors surface on the next query
  }

  private static sql(client: pg.Pool | pg.PoolClient): Sql {
    return {
      all: async (sql, params = []) => (await client.query({ ...preparedOf(sql), values: params as Param[] })).rows as Row[],
      get: async (sql, params = []) => (await client.query({ ...preparedOf(sql), values: params as Param[] })).rows[0] as Row | undefined,
      run: async (sql, params = []) => (await client.query({ ...preparedOf(sql), values: params as Param[] })).rowCount ?? 0,
    };
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw e instanceof AppError ? e : storageError(e);
    }
  }

  all(sql: string, params?: readonly Param[]): Promise<Row[]> {
    return this.guard(() => PgDb.sql(this.pool).all(sql, params));
  }
  get(sql: string, params?: readonly Param[]): Promise<Row | undefined> {
    return this.guard(() => PgDb.sql(this.pool).get(sql, params));
  }
  run(sql: string, params?: readonly Param[]): Promise<number> {
    return this.guard(() => PgDb.sql(this.pool).run(sql, params));
  }

  async tx<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    const client = await this.guard(() => this.pool.connect());
    try {
      await client.query('BEGIN');
      const r = await fn(PgDb.sql(client));
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e instanceof AppError ? e : storageError(e);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

// ---- opening and migrations ---------------------------------------------------------------------------------------

export interface OpenDbOptions {
  /** A SQLite file path (or ':memory:') or a postgres:// URL. */
  readonly spec: string;
  readonly sqliteSync?: 'normal' | 'full';
  readonly pgPoolSize?: number;
}

export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//.test(spec);
}

const MIGRATION_LOCK_ID = 0x6d76_6272; // 'mvbr'

/** Opens the database and applies pending migrations (numbered, each in its own transaction). */
export async function openDb(opts: OpenDbOptions): Promise<Db> {
  if (isPostgresUrl(opts.spec)) {
    const db = new PgDb(opts.spec, opts.pgPoolSize ?? 16);
    const client = await db.pool.connect().catch((e: unknown) => {
      throw new AppError('BROKER_UNREACHABLE', 'Cannot connect to the PostgreSQL database. Check the URL, that the server runs, and the credentials.', { cause: e });
    });
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r: { version: number }) => r.version));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          for (const stmt of m.statements) await client.query(stmt);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, Date.now()]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw storageError(e);
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
      client.release();
    }
    return db;
  }
  let db: SqliteDb;
  try {
    db = new SqliteDb(opts.spec, opts.sqliteSync ?? 'normal');
  } catch (e) {
    throw new AppError('IO_ERROR', 'Cannot open the SQLite database. Check the path and its permissions.', { cause: e });
  }
  db.execScript('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
  const done = new Set((await db.all('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await db.tx(async (q) => {
      for (const stmt of m.statements) await q.run(stmt);
      await q.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [m.version, Date.now()]);
    });
  }
  return db;
}
