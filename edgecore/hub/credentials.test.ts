import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JoinError } from "../errors.js";
import { credentialFiles, loadCredentials } from "./join.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("stored node credentials", () => {
  it("are read back from the files the join writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgefleet-creds-"));
    dirs.push(dir);
    const files = credentialFiles(dir);
    writeFileSync(files.caFile, "CA");
    writeFileSync(files.certFile, "CERT");
    writeFileSync(files.keyFile, "KEY");
    expect(loadCredentials(dir)).toEqual({ caPem: "CA", certPem: "CERT", keyPem: "KEY" });
  });

  it("name the missing file and say to join first", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgefleet-creds-"));
    dirs.push(dir);
    expect(() => loadCredentials(dir)).toThrow(JoinError);
    expect(() => loadCredentials(dir)).toThrow(
      `cannot read ${join(dir, "ca.crt")} (run \`edgecore join\` first)`,
    );
  });
});
