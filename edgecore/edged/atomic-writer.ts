import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
  lstatSync,
} from "node:fs";
import { dirname, join, normalize, sep } from "node:path";

export interface FileProjection {
  readonly data: Buffer;
  readonly mode: number;
}

const DATA_LINK = "..data";

/** A projected path that would escape the volume (absolute, `..`, empty). */
export class ProjectionPathError extends Error {
  override readonly name = "ProjectionPathError";
}

function checkPath(path: string): string {
  const normal = normalize(path);
  if (path === "" || path.startsWith("/") || normal.split(sep).includes("..") || normal.startsWith(".."))
    throw new ProjectionPathError(`path "${path}" must be relative and must not contain ".."`);
  return normal;
}

/** The payload now visible in `dir`, or undefined if none was written yet. */
function currentPayload(dir: string): Map<string, FileProjection> | undefined {
  const link = join(dir, DATA_LINK);
  if (!existsSync(link)) return undefined;
  const data = join(dir, readlinkSync(link));
  const out = new Map<string, FileProjection>();
  const walk = (at: string, prefix: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) walk(full, rel);
      else out.set(rel, { data: readFileSync(full), mode: lstatSync(full).mode & 0o777 });
    }
  };
  walk(data, "");
  return out;
}

function samePayload(a: Map<string, FileProjection>, b: ReadonlyMap<string, FileProjection>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, file] of b) {
    const other = a.get(path);
    if (!other || other.mode !== file.mode || !other.data.equals(file.data)) return false;
  }
  return true;
}

/**
 * Writes a ConfigMap/Secret/downward-API volume so a reader never sees half an update, as the
 * kubelet's AtomicWriter does: the files go into a fresh hidden directory, the `..data` symlink is
 * switched to it with one rename, and each visible top-level name is a symlink through `..data`.
 * A container that bind-mounts `dir` sees the new content appear all at once. Returns true if
 * anything changed.
 */
export function writeProjection(dir: string, payload: ReadonlyMap<string, FileProjection>): boolean {
  const files = new Map<string, FileProjection>();
  for (const [path, file] of payload) files.set(checkPath(path), file);
  mkdirSync(dir, { recursive: true });
  const before = currentPayload(dir);
  if (before && samePayload(before, files)) return false;
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, "_")}.${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
  const data = join(dir, stamp);
  mkdirSync(data);
  for (const [path, file] of files) {
    mkdirSync(dirname(join(data, path)), { recursive: true });
    writeFileSync(join(data, path), file.data, { mode: file.mode });
    chmodSync(join(data, path), file.mode);
  }
  const previous = existsSync(join(dir, DATA_LINK)) ? readlinkSync(join(dir, DATA_LINK)) : undefined;
  const tmpLink = join(dir, "..data_tmp");
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, join(dir, DATA_LINK));
  // Visible names: one symlink per top-level entry, through ..data; stale ones removed.
  const top = new Set([...files.keys()].map((p) => p.split(sep)[0] ?? p));
  for (const name of top) {
    const link = join(dir, name);
    if (!existsSync(link) && !isSymlink(link)) symlinkSync(join(DATA_LINK, name), link);
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith("..") || top.has(entry)) continue;
    rmSync(join(dir, entry), { recursive: true, force: true });
  }
  if (previous && previous !== stamp) rmSync(join(dir, previous), { recursive: true, force: true });
  return true;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
