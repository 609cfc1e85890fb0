import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from "vitest";
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from "../../../scripts/env/busybox-image.js";
import { untilValue } from "../../../test/until.js";
import { CriClient } from "./cri-client.js";
import { CriClosedError, CriError } from "./errors.js";
import { nanosToDate, type ContainerConfig, type ContainerStatus, type PodSandboxConfig } from "./types.js";

const env = inject("env");
/** Every sandbox these tests make carries this label, so afterAll can find what a failure left. */
const TEST_LABEL = { "edgefleet.io/test": "cri-client" } as const;

interface Sandbox {
  readonly id: string;
  readonly config: PodSandboxConfig;
}

describe("CRI client on containerd", () => {
  let cri: CriClient;
  let workDir: string;

  function newClient(): CriClient {
    if (!env.containerd) throw new Error("environment started without containerd");
    return new CriClient(env.containerd.socket, { timeoutMs: 60_000, logger: pino({ level: "silent" }) });
  }

  beforeAll(() => {
    cri = newClient();
    workDir = mkdtempSync(join(env.stateDir, "cri-client-test-"));
  });

  afterAll(async () => {
    if (!cri) return;
    try {
      // Normally empty: each test removes its own sandboxes.
      for (const sandbox of await cri.listPodSandbox({ labelSelector: TEST_LABEL }))
        await removeSandbox(sandbox.id);
    } finally {
      await cri.close();
    }
  });

  async function removeSandbox(id: string): Promise<void> {
    // containerd 1.6 refuses to remove a sandbox that is not stopped.
    await cri.stopPodSandbox(id);
    await cri.removePodSandbox(id);
  }

  /** Runs a sandbox that is stopped and removed when the test ends, whether it passed or not. */
  async function runSandbox(name: string, network: "POD" | "NODE" = "POD"): Promise<Sandbox> {
    const uid = randomUUID();
    const logDirectory = join(workDir, uid);
    mkdirSync(logDirectory); // kubelet makes the pod's log directory, not the runtime
    const config: PodSandboxConfig = {
      metadata: { name: `${name}-${uid.slice(0, 8)}`, uid, namespace: "cri-test" },
      // A hostname needs the pod's own UTS namespace, which a host-network pod does not get.
      ...(network === "POD" ? { hostname: name } : {}),
      logDirectory,
      labels: TEST_LABEL,
      linux: { securityContext: { namespaceOptions: { network, pid: "CONTAINER", ipc: "POD" } } },
    };
    const { podSandboxId } = await cri.runPodSandbox({ config });
    onTestFinished(async () => {
      // The test may have removed it already.
      await removeSandbox(podSandboxId).catch((err: unknown) => {
        if (!(err instanceof CriError && err.grpcCode === GrpcStatus.NOT_FOUND)) throw err;
      });
    });
    return { id: podSandboxId, config };
  }

  async function startContainer(
    sandbox: Sandbox,
    config: Partial<ContainerConfig> & Pick<ContainerConfig, "metadata">,
  ): Promise<string> {
    const { containerId } = await cri.createContainer({
      podSandboxId: sandbox.id,
      sandboxConfig: sandbox.config,
      config: { image: { image: BUSYBOX_IMAGE }, logPath: `${config.metadata.name}.log`, ...config },
    });
    await cri.startContainer(containerId);
    return containerId;
  }

  function untilExited(containerId: string): Promise<ContainerStatus> {
    return untilValue(`container ${containerId} to exit`, 30_000, async () => {
      const { status } = await cri.containerStatus(containerId);
      return status.state === "CONTAINER_EXITED" ? status : undefined;
    });
  }

  it("version - containerd answers with its name and CRI API v1", async () => {
    const version = await cri.version();
    expect(version).toMatchObject({ runtimeName: "containerd", runtimeApiVersion: "v1" });
    expect(version.runtimeVersion).toMatch(/^1\.6\./);
  });

  it("images - the local busybox and pause images are listed and ImageStatus reports an absent image as null", async () => {
    const tags = (await cri.listImages()).flatMap((image) => image.repoTags);
    expect(tags).toEqual(expect.arrayContaining([BUSYBOX_IMAGE, PAUSE_IMAGE]));
    const present = await cri.imageStatus({ image: BUSYBOX_IMAGE });
    expect(present.image?.repoTags).toContain(BUSYBOX_IMAGE);
    expect(present.image?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(BigInt(present.image?.size ?? "0")).toBeGreaterThan(0n);
    const absent = await cri.imageStatus({ image: "docker.io/edgefleet/absent:0" });
    expect(absent.image).toBeNull();
  });

  it("lifecycle - a container that prints lines and exits 3 is EXITED with code 3, its lines in the CRI log file, and gone once removed", async () => {
    const sandbox = await runSandbox("lifecycle");
    const before = Date.now();
    const script = "echo first line; echo second line; echo to stderr >&2; exit 3";
    const id = await startContainer(sandbox, {
      metadata: { name: "printer" },
      command: ["sh", "-c", script],
    });

    const status = await untilExited(id);
    expect(status).toMatchObject({
      id,
      metadata: { name: "printer", attempt: 0 },
      exitCode: 3,
      reason: "Error",
      logPath: join(sandbox.config.logDirectory ?? "", "printer.log"),
    });
    const started = nanosToDate(status.startedAt);
    const finished = nanosToDate(status.finishedAt);
    expect(started?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    // Not `finished ≥ started`: containerd stamps startedAt once the task's start returned, and a
    // process that exits at once can have exited (its exit time) a millisecond before that.
    expect(finished?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(finished?.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await cri.listContainers({ podSandboxId: sandbox.id })).toEqual([
      expect.objectContaining({ id, state: "CONTAINER_EXITED", podSandboxId: sandbox.id }),
    ]);

    // CRI log format: "<RFC 3339 nano time> <stream> <F(ull) | P(artial)> <text>" per line.
    const lines = readFileSync(status.logPath, "utf8").trimEnd().split("\n");
    const parsed = lines.map((line) => /^(\S+) (stdout|stderr) F (.*)$/.exec(line));
    expect(parsed.every((m) => m !== null && !Number.isNaN(Date.parse(m[1] ?? "")))).toBe(true);
    const text = (stream: string): (string | undefined)[] =>
      parsed.filter((m) => m?.[2] === stream).map((m) => m?.[3]);
    expect(text("stdout")).toEqual(["first line", "second line"]);
    expect(text("stderr")).toEqual(["to stderr"]);

    await cri.removeContainer(id);
    expect(await cri.listContainers({ id })).toEqual([]);
    await removeSandbox(sandbox.id);
    expect(await cri.listPodSandbox({ id: sandbox.id })).toEqual([]);
  });

  it("exec - env vars and a read-only bind mount of a host file are visible in a running container", async () => {
    const sandbox = await runSandbox("exec");
    const hostFile = join(workDir, `config-${randomUUID()}.txt`);
    writeFileSync(hostFile, "from the host\n");
    const id = await startContainer(sandbox, {
      metadata: { name: "sleeper" },
      command: ["sleep", "3600"],
      envs: [{ key: "EDGE_GREETING", value: "hello edge" }],
      mounts: [{ containerPath: "/etc/edgefleet/config.txt", hostPath: hostFile, readonly: true }],
    });

    const greeting = await cri.execSync({
      containerId: id,
      cmd: ["sh", "-c", 'echo "$EDGE_GREETING"'],
      timeout: 10,
    });
    expect({ exitCode: greeting.exitCode, stdout: greeting.stdout.toString() }).toEqual({
      exitCode: 0,
      stdout: "hello edge\n",
    });
    const cat = await cri.execSync({
      containerId: id,
      cmd: ["cat", "/etc/edgefleet/config.txt"],
      timeout: 10,
    });
    expect(cat.stdout.toString()).toBe("from the host\n");
    // A failing command is a result, not an error.
    const write = await cri.execSync({
      containerId: id,
      cmd: ["sh", "-c", "echo changed > /etc/edgefleet/config.txt"],
      timeout: 10,
    });
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr.toString()).toMatch(/read-only/i);
    expect(readFileSync(hostFile, "utf8")).toBe("from the host\n");
    // A command that cannot start at all is an error, and containerd does not say which kind.
    await expect(
      cri.execSync({ containerId: id, cmd: ["no-such-binary"], timeout: 10 }),
    ).rejects.toMatchObject({
      name: "CriError",
      grpcCodeName: "UNKNOWN",
    });

    const { status } = await cri.containerStatus(id);
    expect(status.state).toBe("CONTAINER_RUNNING");
    expect(status.mounts).toEqual([
      expect.objectContaining({
        containerPath: "/etc/edgefleet/config.txt",
        hostPath: hostFile,
        readonly: true,
      }),
    ]);
  });

  it("cancellation - an ExecSync past its per-call deadline rejects with DEADLINE_EXCEEDED, an aborted one with CANCELLED, one cut by destroy() with CriClosedError", async () => {
    const sandbox = await runSandbox("deadline");
    const id = await startContainer(sandbox, { metadata: { name: "sleeper" }, command: ["sleep", "3600"] });
    const slow = { containerId: id, cmd: ["sleep", "30"] } as const;

    const started = Date.now();
    const late = cri.execSync(slow, { timeoutMs: 500 });
    await expect(late).rejects.toBeInstanceOf(CriError);
    await expect(late).rejects.toMatchObject({ method: "ExecSync", grpcCode: GrpcStatus.DEADLINE_EXCEEDED });
    expect(Date.now() - started).toBeLessThan(5_000);

    const aborted = cri.execSync(slow, { signal: AbortSignal.timeout(300) });
    await expect(aborted).rejects.toMatchObject({ method: "ExecSync", grpcCodeName: "CANCELLED" });

    const other = newClient();
    const cut = other.execSync(slow);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reason = new Error("edged is shutting down");
    other.destroy(reason);
    other.destroy(); // a second destroy is a no-op
    await expect(cut).rejects.toBeInstanceOf(CriClosedError);
    await expect(cut).rejects.toMatchObject({ cause: reason });
    await expect(other.close()).resolves.toBeUndefined();
  });

  it("stop - StopContainer kills a container that ignores SIGTERM once the grace period is over", async () => {
    const sandbox = await runSandbox("stop");
    const id = await startContainer(sandbox, {
      metadata: { name: "stubborn" },
      // The trap makes the shell (pid 1) ignore SIGTERM; "ready" tells us the trap is in place.
      command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"],
    });
    const logPath = join(sandbox.config.logDirectory ?? "", "stubborn.log");
    await untilValue("the trap to be set", 10_000, async () =>
      readFileSync(logPath, "utf8").includes("ready") ? true : undefined,
    );

    const graceS = 2;
    const started = Date.now();
    await cri.stopContainer({ containerId: id, timeout: graceS });
    const tookMs = Date.now() - started;

    expect(tookMs).toBeGreaterThanOrEqual(graceS * 1000 - 100);
    expect(tookMs).toBeLessThan(graceS * 1000 + 10_000);
    const { status } = await cri.containerStatus(id);
    // 128 + SIGKILL (9): the grace ran out and it was killed.
    expect(status).toMatchObject({ state: "CONTAINER_EXITED", exitCode: 137 });
  });

  it("errors - calls naming an unknown container reject with CriError NOT_FOUND; RemoveContainer is idempotent", async () => {
    const unknown = "0".repeat(64);
    for (const call of [
      () => cri.containerStatus(unknown),
      () => cri.startContainer(unknown),
      () => cri.stopContainer({ containerId: unknown, timeout: 1 }),
      () => cri.execSync({ containerId: unknown, cmd: ["true"] }),
    ]) {
      const failure = call();
      await expect(failure).rejects.toBeInstanceOf(CriError);
      await expect(failure).rejects.toMatchObject({
        grpcCode: GrpcStatus.NOT_FOUND,
        grpcCodeName: "NOT_FOUND",
      });
    }
    await expect(cri.containerStatus(unknown)).rejects.toMatchObject({
      name: "CriError",
      code: "EF_ERR_CRI",
      method: "ContainerStatus",
    });
    await expect(cri.removeContainer(unknown)).resolves.toBeUndefined();
    await expect(cri.podSandboxStatus(unknown)).rejects.toMatchObject({ grpcCodeName: "NOT_FOUND" });
  });

  it("network - each pod gets its own IP on the pod bridge, where the host reaches its busybox httpd", async () => {
    const [a, b] = [await runSandbox("web-a"), await runSandbox("web-b")];
    const ipOf = async (sandbox: Sandbox): Promise<string> =>
      (await cri.podSandboxStatus(sandbox.id)).status.network?.ip ?? "";
    const [ipA, ipB] = [await ipOf(a), await ipOf(b)];
    expect(ipA).toMatch(/^10\.88\.\d+\.\d+$/);
    expect(ipB).toMatch(/^10\.88\.\d+\.\d+$/);
    expect(ipA).not.toBe(ipB);

    await startContainer(a, {
      metadata: { name: "httpd" },
      command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
    });
    const body = await untilValue(`httpd at ${ipA}:8080`, 10_000, async () => {
      const res = await fetch(`http://${ipA}:8080/index.html`, { signal: AbortSignal.timeout(2_000) }).catch(
        () => undefined,
      );
      return res?.ok ? await res.text() : undefined;
    });
    expect(body).toBe("edgefleet busybox\n");
  });

  it("network - a host-network sandbox (NamespaceMode NODE) has no pod IP", async () => {
    const sandbox = await runSandbox("hostnet", "NODE");
    const { status } = await cri.podSandboxStatus(sandbox.id);
    expect(status).toMatchObject({
      state: "SANDBOX_READY",
      network: { ip: "" },
      linux: { namespaces: { options: { network: "NODE" } } },
    });
  });

  it("close - a closed client rejects new calls with CriClosedError, and close() is safe to call twice", async () => {
    const client = newClient();
    await expect(client.version()).resolves.toMatchObject({ runtimeName: "containerd" });
    await Promise.all([client.close(), client.close()]);
    await expect(client.version()).rejects.toBeInstanceOf(CriClosedError);
    client.destroy();
  });
});
