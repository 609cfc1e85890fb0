import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { MissingBinaryError } from "./errors.js";

/** Pinned versions of what scripts/env/build-k8s.sh builds from Go modules. Keep the two in step. */
export const KUBERNETES_VERSION = process.env["EDGEFLEET_K8S_VERSION"] ?? "v1.36.3";
export const ETCD_VERSION = process.env["EDGEFLEET_ETCD_VERSION"] ?? "v3.6.8";
export const HELM_VERSION = process.env["EDGEFLEET_HELM_VERSION"] ?? "v3.22.0";

export const CACHE_DIR = process.env["EDGEFLEET_CACHE"] ?? join(homedir(), ".cache", "edgefleet");
export const KUBERNETES_BIN_DIR = join(CACHE_DIR, "k8s", KUBERNETES_VERSION);
export const ETCD_BIN_DIR = join(CACHE_DIR, "etcd", ETCD_VERSION);
export const HELM_BIN_DIR = join(CACHE_DIR, "helm", HELM_VERSION);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A binary built by build-k8s.sh, or a clear error saying how to build it. */
export function builtBinary(dir: string, name: string): string {
  const path = join(dir, name);
  if (!executable(path)) {
    throw new MissingBinaryError(
      `${name} not found at ${path}; run scripts/setup.sh (it builds it from its Go module)`,
    );
  }
  return path;
}

/** A binary from a Debian package, searched on PATH plus the sbin directories. */
export function systemBinary(name: string, debianPackage: string): string {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) {
    if (dir !== "" && executable(join(dir, name))) return join(dir, name);
  }
  throw new MissingBinaryError(
    `${name} not found; install the Debian package ${debianPackage} (scripts/setup.sh does)`,
  );
}
