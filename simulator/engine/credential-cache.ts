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
    this.#db.pragma("journal_mode = WAL");
    // Workers write at once; wait for each other's transactions instead of failing.
    this.#db.pragma("busy_timeout = 10000");
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

/** sha256 of the CA's DER, hex: the first half of a join token. */
export function caHashOf(caPem: string): string {
  return createHash("sha256")
    .update(Buffer.from(new x509.X509Certificate(caPem).rawData))
    .digest("hex");
}
