import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type SqliteDatabase = Database.Database;

/**
 * One module's schema, as an ordered list of SQL scripts. Script i takes the module's schema from
 * version i to i + 1; scripts are only ever appended, never edited once released.
 */
export interface ModuleSchema {
  readonly module: string;
  readonly migrations: readonly string[];
}

/**
 * Opens (creating if needed) edgecore's SQLite database: WAL journal, synchronous FULL so a
 * committed transaction survives a power cut, foreign keys on. Each module (metamanager,
 * devicetwin…) migrates its own tables through migrate().
 */
export function openEdgeDatabase(file: string): SqliteDatabase {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // FULL (not WAL's usual NORMAL): an acknowledged object must survive a power cut, and the cloud
  // does not resend what was acked.
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  return db;
}

/** A database written by a newer edgecore than this one. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly module: string,
    readonly found: number,
    readonly known: number,
  ) {
    super(
      `the database's ${module} schema is version ${found}, newer than this edgecore knows (${known}); refusing to touch it`,
    );
    this.name = "SchemaTooNewError";
  }
}

/**
 * Brings one module's tables to its latest schema version, each step in its own transaction with
 * the version bump, so a crash between steps leaves a consistent, resumable version.
 */
export function migrate(db: SqliteDatabase, schema: ModuleSchema): void {
  const row = db.prepare("SELECT version FROM schema_migrations WHERE module = ?").get(schema.module) as
    { version: number } | undefined;
  const current = row?.version ?? 0;
  if (current > schema.migrations.length)
    throw new SchemaTooNewError(schema.module, current, schema.migrations.length);
  const setVersion = db.prepare(
    "INSERT INTO schema_migrations (module, version) VALUES (?, ?) ON CONFLICT(module) DO UPDATE SET version = excluded.version",
  );
  for (let version = current; version < schema.migrations.length; version++) {
    db.transaction(() => {
      db.exec(schema.migrations[version] ?? "");
      setVersion.run(schema.module, version + 1);
    })();
  }
}
