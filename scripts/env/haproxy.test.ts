import { describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "./haproxy.js";

describe("haproxy config", () => {
  it("renders a TCP frontend and a checked server per backend", () => {
    const cfg = renderHaproxyConfig(
      [
        {
          name: "tunnel",
          balance: "leastconn",
          backends: [{ name: "cc-0", host: "127.0.0.1", port: 10000 }],
        },
      ],
      { tunnel: 20000 },
      20001,
    );
    expect(cfg).toContain("mode tcp");
    expect(cfg).toContain("frontend tunnel\n  bind 127.0.0.1:20000\n  default_backend tunnel_servers");
    expect(cfg).toContain("balance leastconn");
    expect(cfg).toContain("server cc-0 127.0.0.1:10000 check");
    expect(cfg).toContain("bind 127.0.0.1:20001\n  monitor-uri /healthz");
  });

  it("rejects a service or backend name that would break the config", () => {
    expect(() => renderHaproxyConfig([{ name: "a b", backends: [] }], {}, 1)).toThrow(/service name "a b"/);
    expect(() =>
      renderHaproxyConfig(
        [{ name: "ok", backends: [{ name: "x\nlisten", host: "h", port: 1 }] }],
        { ok: 2 },
        1,
      ),
    ).toThrow(/backend name/);
  });
});
