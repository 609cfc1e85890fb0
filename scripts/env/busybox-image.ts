import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import { runCommand } from "./run-command.js";

/** The test image: Debian's busybox-static as a one-layer OCI image. No registry is reachable here. */
export const BUSYBOX_IMAGE = "docker.io/edgefleet/busybox:1.35";
/**
 * The pod sandbox ("pause") image for containerd's CRI plugin: the same layer, sleeping forever.
 * registry.k8s.io/pause cannot be pulled here.
 */
export const PAUSE_IMAGE = "docker.io/edgefleet/pause:1.35";

interface Blob {
  readonly digest: string;
  readonly size: number;
}

const REPRODUCIBLE_TAR = ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"];

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function writeBlob(blobsDir: string, data: Buffer): Blob {
  const digest = sha256(data);
  writeFileSync(join(blobsDir, digest.slice("sha256:".length)), data);
  return { digest, size: data.length };
}

function writeJsonBlob(blobsDir: string, value: unknown): Blob {
  return writeBlob(blobsDir, Buffer.from(JSON.stringify(value)));
}

/** The root filesystem: busybox, a symlink per applet, and the files httpd and `id` expect. */
async function buildRootfs(rootfs: string): Promise<void> {
  const busybox = systemBinary("busybox", "busybox-static");
  for (const dir of ["bin", "etc", "tmp", "var/www", "proc", "sys", "dev", "root"])
    mkdirSync(join(rootfs, dir), { recursive: true });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  copyFileSync(busybox, join(rootfs, "bin", "busybox"));
  chmodSync(join(rootfs, "bin", "busybox"), 0o755);
  const { stdout } = await runCommand(busybox, ["--list"]);
  for (const applet of stdout.split("\n").map((s) => s.trim())) {
    if (applet !== "" && applet !== "busybox") symlinkSync("busybox", join(rootfs, "bin", applet));
  }
  writeFileSync(
    join(rootfs, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
  );
  writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
  writeFileSync(join(rootfs, "var", "www", "index.html"), "edgefleet busybox\n");
}

/**
 * Builds an OCI image-layout tarball holding BUSYBOX_IMAGE and PAUSE_IMAGE (one shared layer),
 * importable with `ctr images import`. Deterministic: the same busybox gives the same digests.
 */
export async function buildBusyboxOciArchive(outFile: string): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "edgefleet-image-"));
  try {
    const rootfs = join(work, "rootfs");
    const layout = join(work, "layout");
    const blobs = join(layout, "blobs", "sha256");
    mkdirSync(rootfs);
    mkdirSync(blobs, { recursive: true });
    await buildRootfs(rootfs);
    const layerTar = join(work, "layer.tar");
    await runCommand("tar", [...REPRODUCIBLE_TAR, "-C", rootfs, "-cf", layerTar, "."]);
    const layer = writeBlob(blobs, readFileSync(layerTar));
    const platform = { architecture: "amd64", os: "linux" };
    const manifestFor = (name: string, config: Record<string, unknown>): Record<string, unknown> => {
      const configBlob = writeJsonBlob(blobs, {
        ...platform,
        created: "1970-01-01T00:00:00Z",
        config: { Env: ["PATH=/bin"], WorkingDir: "/", ...config },
        rootfs: { type: "layers", diff_ids: [layer.digest] },
        history: [{ created: "1970-01-01T00:00:00Z", created_by: "edgefleet busybox-image.ts" }],
      });
      const manifest = writeJsonBlob(blobs, {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...configBlob },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
      });
      return {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        platform,
        annotations: {
          "io.containerd.image.name": name,
          "org.opencontainers.image.ref.name": name.slice(name.lastIndexOf(":") + 1),
        },
      };
    };
    const index = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        manifestFor(BUSYBOX_IMAGE, { Cmd: ["sh"] }),
        manifestFor(PAUSE_IMAGE, { Entrypoint: ["/bin/sleep", "2147483647"] }),
      ],
    };
    writeFileSync(join(layout, "index.json"), JSON.stringify(index));
    writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await runCommand("tar", [...REPRODUCIBLE_TAR, "-C", layout, "-cf", outFile, "."]);
    if (statSync(outFile).size === 0) throw new Error(`empty image archive ${outFile}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
