import { execFile, spawn, type ChildProcess } from "node:child_process";
import { builtinModules } from "node:module";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../scripts/env/ports.js";
import { untilValue } from "./until.js";

const env = inject("env");
const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

// What the Dockerfile does, without an image builder (none runs here, and no registry is reachable
// for its base image): the build stage's compile, the runtime stage's layout (package.json,
// node_modules, dist under one directory), and its entry points started from there.
describe("the built image layout", () => {
  const image = mkdtempSync(join(tmpdir(), "edgefleet-image-"));
  let cloudcore: ChildProcess | undefined;

  afterAll(() => {
    cloudcore?.kill("SIGKILL");
    rmSync(image, { recursive: true, force: true });
  });

  it("copies every source folder the build compiles, and links exactly the package's entry points", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    const build = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as {
      include: string[];
    };
    const copied = [...dockerfile.matchAll(/^COPY (\S+) \.\/\1$/gm)].map((m) => m[1]);
    for (const folder of build.include) expect(copied, `COPY ${folder}`).toContain(folder);
    const linked = Object.fromEntries(
      [...dockerfile.matchAll(/ln -s \/opt\/edgefleet\/(\S+) \/usr\/local\/bin\/(\S+)/g)].map((m) => [
        m[2],
        m[1],
      ]),
    );
    const { "edgefleet-env": _devOnly, ...shipped } = pkg.bin; // the test environment's CLI is not shipped
    expect(linked).toEqual(shipped);
  });

  it("compiles, imports only declared runtime dependencies, and every entry point starts", async () => {
    await run("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", join(image, "dist")], { cwd: root });
    // The rest of `npm run build`: its copy steps (files and folders the compiler does not emit).
    const copies = [
      ...(pkg.scripts["build"] ?? "").matchAll(/&& cp (?:-r )?(\S+) dist\/(\S+?)\/?(?= &&|$)/g),
    ];
    if (copies.length === 0) throw new Error("the build script has no copy step; update this test");
    for (const [, from = "", to = ""] of copies)
      cpSync(join(root, from), join(image, "dist", to, from.split("/").pop() ?? ""), { recursive: true });
    cpSync(join(root, "package.json"), join(image, "package.json"));
    symlinkSync(join(root, "node_modules"), join(image, "node_modules"));

    // After `npm prune --omit=dev` only `dependencies` are in the image: a bare import of anything
    // else would fail there (and not here, where dev dependencies are installed).
    const builtins = new Set(builtinModules);
    const missing = new Set<string>();
    for (const file of filesUnder(join(image, "dist")).filter((f) => f.endsWith(".js"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(
        /(?:^|\n)\s*(?:import|export)[^"'\n]*?from\s*["']([^"'.][^"']*)["']|import\(\s*["']([^"'.][^"']*)["']\s*\)/g,
      )) {
        const specifier = m[1] ?? m[2] ?? "";
        if (specifier.startsWith("node:") || builtins.has(specifier)) continue;
        if (!(packageOf(specifier) in pkg.dependencies))
          missing.add(`${packageOf(specifier)} (${relative(image, file)})`);
      }
    }
    expect([...missing]).toEqual([]);

    for (const [name, entry] of Object.entries(pkg.bin).filter(([n]) => n !== "edgefleet-env")) {
      const { stdout } = await run(process.execPath, [join(image, entry), "--help"]);
      expect(stdout, name).toContain(`Usage: ${name}`);
    }
    // The load scenarios are data files the build copies beside the compiled runner.
    const { stdout: scenarios } = await run(process.execPath, [
      join(image, pkg.bin["edgefleet-load"] ?? ""),
      "scenarios",
    ]);
    expect(scenarios).toMatch(/^smoke +/m);

    // The built cloudcore against the real apiserver and Redis: ready means informers synced and
    // Redis answering, so every runtime module (uWS's native binary, ioredis, redlock) loaded.
    const metricsPort = await freePort();
    cloudcore = spawn(
      process.execPath,
      [
        join(image, pkg.bin["cloudcore"] ?? ""),
        "run",
        "--kubeconfig",
        env.kubernetes?.kubeconfig ?? "",
        "--redis-url",
        env.redis?.url ?? "",
        "--host",
        "127.0.0.1",
        "--advertise-address",
        "127.0.0.1",
        ...["--tunnel-port", String(await freePort())],
        ...["--certificate-port", String(await freePort())],
        ...["--stream-port", String(await freePort())],
        ...["--metrics-port", String(metricsPort)],
        ...["--kubeedge-port", "0", "--device-webhook-port", "0"],
        // Matches no node: this cloudcore must not serve the nodes of other tests.
        ...["--edge-node-selector", "edgefleet.io/packaging-test=none"],
        ...["--log-level", "warn"],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    cloudcore.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const ready = await untilValue("the built cloudcore ready", 60_000, async () => {
      if (cloudcore?.exitCode !== null) throw new Error(`cloudcore exited ${cloudcore?.exitCode}: ${stderr}`);
      const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
      return res?.status === 200 ? await res.text() : undefined;
    });
    expect(ready).toBe("ok");
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain("edgefleet_connected_nodes 0");
  }, 240_000);
});
