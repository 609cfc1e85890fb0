import { describe, expect, it } from "vitest";
import { renderTunnelRules, tunnelTargetsOf } from "./tunnel-rules.js";

describe("renderTunnelRules", () => {
  it("renders one DNAT rule per replica, sorted by port, replacing the chain in one restore", () => {
    expect(
      renderTunnelRules("EF-T", [
        { replica: "b", tunnelPort: 10352, address: "10.0.0.2", streamPort: 10003 },
        { replica: "a", tunnelPort: 10351, address: "10.0.0.1", streamPort: 10003 },
      ]),
    ).toBe(
      [
        "*nat",
        ":EF-T - [0:0]",
        '-A EF-T -p tcp --dport 10351 -m comment --comment "edgefleet replica a" -j DNAT --to-destination 10.0.0.1:10003',
        '-A EF-T -p tcp --dport 10352 -m comment --comment "edgefleet replica b" -j DNAT --to-destination 10.0.0.2:10003',
        "COMMIT",
        "",
      ].join("\n"),
    );
  });

  it("renders an empty chain when no replica is alive, and refuses unsafe input", () => {
    expect(renderTunnelRules("EF-T", [])).toBe("*nat\n:EF-T - [0:0]\nCOMMIT\n");
    expect(() => renderTunnelRules("EF T", [])).toThrow(RangeError);
    expect(() =>
      renderTunnelRules("EF-T", [{ replica: "x", tunnelPort: 1, address: "1.2.3.4; rm", streamPort: 2 }]),
    ).toThrow(/not an IP/);
  });
});

describe("tunnelTargetsOf", () => {
  it("makes a target of every replica that holds a tunnel port, KubeEdge's stream port if it named none", () => {
    expect(
      tunnelTargetsOf([
        { id: "a", address: "10.0.0.1", tunnelPort: 10351, streamPort: 10003 },
        { id: "b", address: "10.0.0.2" },
        { id: "c", address: "10.0.0.3", tunnelPort: 10352 },
      ]),
    ).toEqual([
      { replica: "a", tunnelPort: 10351, address: "10.0.0.1", streamPort: 10003 },
      { replica: "c", tunnelPort: 10352, address: "10.0.0.3", streamPort: 10003 },
    ]);
  });
});
