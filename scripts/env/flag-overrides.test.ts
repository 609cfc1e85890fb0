import { describe, expect, it } from "vitest";
import { withOverrides } from "./flag-overrides.js";

describe("withOverrides", () => {
  it("replaces a default flag that an override names again, keeping the other defaults", () => {
    expect(
      withOverrides(
        ["--authorization-mode=Node,RBAC", "--v=1", "--profiling=false"],
        ["--authorization-mode=RBAC", "--watch-cache=false"],
      ),
    ).toEqual(["--v=1", "--profiling=false", "--authorization-mode=RBAC", "--watch-cache=false"]);
  });

  it("keeps every default when nothing overrides it", () => {
    expect(withOverrides(["--v=1"], [])).toEqual(["--v=1"]);
  });

  it("treats a flag whose value holds '=' by its name alone", () => {
    expect(withOverrides(["--feature-gates=A=true"], ["--feature-gates=B=true"])).toEqual([
      "--feature-gates=B=true",
    ]);
  });
});
