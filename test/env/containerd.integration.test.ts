import { randomBytes } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { systemBinary } from "../../scripts/env/binaries.js";
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from "../../scripts/env/busybox-image.js";
import { CommandFailedError } from "../../scripts/env/errors.js";
import { runCommand } from "../../scripts/env/run-command.js";

const env = inject("env");

function ctr(args: readonly string[]): Promise<string> {
  if (!env.containerd) throw new Error("environment started without containerd");
  const { socket, namespace } = env.containerd;
  return runCommand(systemBinary("ctr", "containerd"), [
    "--address",
    socket,
    "--namespace",
    namespace,
    ...args,
  ]).then((r) => r.stdout);
}

describe("containerd", () => {
  it("images - the locally built busybox and pause images are imported into the CRI namespace", async () => {
    const refs = await ctr(["images", "ls", "-q"]);
    expect(refs.split("\n")).toEqual(expect.arrayContaining([BUSYBOX_IMAGE, PAUSE_IMAGE]));
  });

  it("run - a container from the busybox image runs and its output is read back", async () => {
    const id = `env-test-${randomBytes(3).toString("hex")}`;
    const script = 'echo "hello from $GREETER as pid $$"; head -1 /etc/passwd';
    const out = await ctr(["run", "--rm", "--env", `GREETER=${id}`, BUSYBOX_IMAGE, id, "sh", "-c", script]);
    // pid 1: the shell runs in the container's own PID namespace; the passwd line is the image's.
    expect(out).toBe(`hello from ${id} as pid 1\nroot:x:0:0:root:/root:/bin/sh\n`);
  });

  it("run - a failing container's exit code is reported", async () => {
    const id = `env-test-${randomBytes(3).toString("hex")}`;
    const run = ctr(["run", "--rm", BUSYBOX_IMAGE, id, "sh", "-c", "exit 3"]);
    await expect(run).rejects.toBeInstanceOf(CommandFailedError);
    await expect(run).rejects.toMatchObject({ cause: { code: 3 } });
  });
});
