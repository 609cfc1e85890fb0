import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("modules as the CLIs load them (node --import tsx)", () => {
  it("redlock is the real module, not its .d.ts (a tsconfig `paths` mapping made tsx load the declarations)", async () => {
    const script = `import { Redlock } from "./cloudcore/cluster/redlock.ts"; console.log(typeof Redlock.prototype.acquire, typeof Redlock.prototype.release);`;
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: process.cwd(),
    });
    expect(stdout.trim()).toBe("function function");
  });
});
