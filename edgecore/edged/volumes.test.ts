import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ProjectionPathError, writeProjection } from "./atomic-writer.js";
import { ContainerConfigError, type ObjectSource } from "./object-source.js";
import type { Pod } from "./pod-spec.js";
import { prepareVolumes } from "./volumes.js";

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "edgefleet-vol-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const volumePath = (paths: Map<string, string>, name: string): string => {
  const path = paths.get(name);
  if (path === undefined) throw new Error(`volume ${name} was not prepared`);
  return path;
};
const file = (text: string, mode = 0o644): { data: Buffer; mode: number } => ({
  data: Buffer.from(text),
  mode,
});

describe("writeProjection", () => {
  it("exposes each key through the ..data symlink and swaps content in one step", () => {
    const dir = tmp();
    expect(
      writeProjection(
        dir,
        new Map([
          ["a.conf", file("one")],
          ["sub/b", file("two")],
        ]),
      ),
    ).toBe(true);
    expect(readFileSync(join(dir, "a.conf"), "utf8")).toBe("one");
    expect(readFileSync(join(dir, "sub", "b"), "utf8")).toBe("two");
    expect(readlinkSync(join(dir, "a.conf"))).toBe(join("..data", "a.conf"));
    const first = readlinkSync(join(dir, "..data"));
    expect(writeProjection(dir, new Map([["a.conf", file("three")]]))).toBe(true);
    expect(readFileSync(join(dir, "a.conf"), "utf8")).toBe("three");
    expect(readlinkSync(join(dir, "..data"))).not.toBe(first);
    // The old data directory and the dropped key are gone.
    expect(readdirSync(dir).sort()).toEqual(["..data", readlinkSync(join(dir, "..data")), "a.conf"].sort());
  });

  it("writes nothing when the content and modes are unchanged", () => {
    const dir = tmp();
    writeProjection(dir, new Map([["k", file("v", 0o600)]]));
    expect(writeProjection(dir, new Map([["k", file("v", 0o600)]]))).toBe(false);
    expect(statSync(join(dir, "k")).mode & 0o777).toBe(0o600);
    expect(writeProjection(dir, new Map([["k", file("v", 0o644)]]))).toBe(true);
  });

  it("refuses paths that escape the volume", () => {
    expect(() => writeProjection(tmp(), new Map([["../evil", file("x")]]))).toThrow(ProjectionPathError);
    expect(() => writeProjection(tmp(), new Map([["/etc/passwd", file("x")]]))).toThrow(ProjectionPathError);
  });
});

describe("prepareVolumes", () => {
  const objects: ObjectSource = {
    configMap: (_ns, name) =>
      name === "cfg" ? { "app.conf": Buffer.from("mode=fast\n"), other: Buffer.from("x") } : undefined,
    secret: (_ns, name) => (name === "creds" ? { password: Buffer.from("s3cr3t") } : undefined),
  };
  const pod = (volumes: unknown[]): Pod =>
    ({
      metadata: { name: "web", namespace: "apps", uid: "u1" },
      spec: { containers: [{ name: "c", image: "i" }], volumes },
    }) as Pod;
  const context = (p: Pod) => ({
    pod: p,
    podDir: tmp(),
    objects,
    tokens: { token: () => Promise.resolve<string | undefined>("tok") },
    node: { hostIP: "10.0.0.1", podIP: "10.0.0.2" },
  });

  it("writes ConfigMap items, Secret data and a projected service-account volume", async () => {
    const ctx = context(
      pod([
        { name: "config", configMap: { name: "cfg", items: [{ key: "app.conf", path: "conf/app.conf" }] } },
        { name: "creds", secret: { secretName: "creds", defaultMode: 0o400 } },
        {
          name: "kube-api-access",
          projected: {
            sources: [
              { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
              { configMap: { name: "cfg", items: [{ key: "other", path: "ca.crt" }] } },
              {
                downwardAPI: {
                  items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
                },
              },
            ],
          },
        },
        { name: "scratch", emptyDir: {} },
      ]),
    );
    const paths = await prepareVolumes(ctx);
    expect(readFileSync(join(volumePath(paths, "config"), "conf", "app.conf"), "utf8")).toBe("mode=fast\n");
    expect(readFileSync(join(volumePath(paths, "creds"), "password"), "utf8")).toBe("s3cr3t");
    expect(statSync(join(volumePath(paths, "creds"), "password")).mode & 0o777).toBe(0o400);
    const sa = volumePath(paths, "kube-api-access");
    expect(["token", "ca.crt", "namespace"].map((f) => readFileSync(join(sa, f), "utf8"))).toEqual([
      "tok",
      "x",
      "apps",
    ]);
    expect(lstatSync(volumePath(paths, "scratch")).isDirectory()).toBe(true);
  });

  it("keeps the token it holds when the cloud cannot issue one, and waits when it holds none", async () => {
    const volumes = [{ name: "sa", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } }];
    const online = context(pod(volumes));
    await prepareVolumes(online);
    const offline = { ...online, tokens: { token: () => Promise.resolve(undefined) } };
    const paths = await prepareVolumes(offline);
    expect(readFileSync(join(volumePath(paths, "sa"), "token"), "utf8")).toBe("tok");
    const never = { ...context(pod(volumes)), tokens: { token: () => Promise.resolve(undefined) } };
    await expect(prepareVolumes(never)).rejects.toThrow(ContainerConfigError);
  });

  it("waits for a ConfigMap the node does not hold yet, unless it is optional", async () => {
    await expect(
      prepareVolumes(context(pod([{ name: "v", configMap: { name: "missing" } }]))),
    ).rejects.toThrow('configmap "missing" not found');
    const paths = await prepareVolumes(
      context(pod([{ name: "v", configMap: { name: "missing", optional: true } }])),
    );
    // An optional ConfigMap that is missing gives an empty volume: only the ..data machinery.
    expect(readdirSync(volumePath(paths, "v")).every((entry) => entry.startsWith(".."))).toBe(true);
  });
});
