import { createHash } from "node:crypto";
import Database from "better-sqlite3";
import * as x509 from "@peculiar/x509";
import type { NodePems } from "../../edgecore/hub/join.js";

/**
 * Joined node certificates kept in SQLite, so a capacity run does not re-join 100,000 nodes (about
 * 100 joins per second per certificate server) every time. Entries are keyed by node name and by
 * the cloud CA's hash: a cache made against another cloud is never used.
 */
export class CredentialCache {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { ca: string; cert: string; key: string }>;
  readonly #put: Database.Statement<[string, string, string, string, string, number]>;

  constructor(path: string) {
    this.#db = new Database(path);
    // Workers write at once; wait for each other's transactions instead of failing.
    this.#db.pragma("busy_timeout = 10000");
    switchToWal(this.#db);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS node_credentials (
      node TEXT NOT NULL, ca_hash TEXT NOT NULL, ca TEXT NOT NULL, cert TEXT NOT NULL, key TEXT NOT NULL,
      not_after INTEGER NOT NULL, PRIMARY KEY (node, ca_hash))`);
    this.#get = this.#db.prepare(
      "SELECT ca, cert, key FROM node_credentials WHERE node = ? AND ca_hash = ? AND not_after > unixepoch() + 3600",
    );
    this.#put = this.#db.prepare(
      "INSERT OR REPLACE INTO node_credentials (node, ca_hash, ca, cert, key, not_after) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  /** The cached credentials of `node` for the cloud whose CA hashes to `caHash` (valid ≥ 1 h more). */
  get(node: string, caHash: string): NodePems | undefined {
    const row = this.#get.get(node, caHash);
    return row && { caPem: row.ca, certPem: row.cert, keyPem: row.key };
  }

  put(node: string, pems: NodePems): void {
    const notAfter = Math.floor(new x509.X509Certificate(pems.certPem).notAfter.getTime() / 1000);
    this.#put.run(node, caHashOf(pems.caPem), pems.caPem, pems.certPem, pems.keyPem, notAfter);
  }

  close(): void {
    this.#db.close();
  }
}

const WAL_SWITCH_ATTEMPTS = 100;

/**
 * Puts the database in WAL mode, waiting for other connections that are doing the same. SQLite
 * does not call the busy handler for this switch: when several workers open a new cache file at
 * once, all but one can get SQLITE_BUSY straight away (seen in 2 of 900 opens in a stress run). The
 * mode is stored in the file, so once any connection has switched, the others find it done.
 */
export function switchToWal(db: Database.Database): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 1; ; attempt++) {
    try {
      if (db.pragma("journal_mode", { simple: true }) === "wal") return;
      db.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      if (!isBusy(error) || attempt >= WAL_SWITCH_ATTEMPTS) throw error;
      // A synchronous pause (5–25 ms, jittered): the constructor that calls this is synchronous.
      Atomics.wait(pause, 0, 0, 5 + Math.random() * 20);
    }
  }
}

function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");
}

/** sha256 of the CA's DER, hex: the first half of a join token. */
export function caHashOf(caPem: string): string {
  return createHash("sha256")
    .update(Buffer.from(new x509.X509Certificate(caPem).rawData))
    .digest("hex");
}
