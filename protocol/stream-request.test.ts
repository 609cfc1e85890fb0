import { describe, expect, it } from "vitest";
import {
  decodeConnectPayload,
  encodeConnectPayload,
  parseKubeletRequest,
  StreamRequestError,
} from "./stream-request.js";

describe("kubelet streaming requests", () => {
  it("parse a log request with every option the apiserver sends", () => {
    const now = Date.parse("2026-11-23T10:00:00Z");
    expect(
      parseKubeletRequest(
        "GET",
        "/containerLogs/ns/web-1/app",
        "follow=true&limitBytes=10&previous=false&sinceSeconds=60&tailLines=5&timestamps=true",
        now,
      ),
    ).toEqual({
      kind: "logs",
      namespace: "ns",
      pod: "web-1",
      container: "app",
      follow: true,
      previous: false,
      timestamps: true,
      tailLines: 5,
      limitBytes: 10,
      sinceMs: now - 60_000,
    });
  });

  it("take the later of sinceSeconds and sinceTime", () => {
    const now = Date.parse("2026-11-23T10:00:00Z");
    const request = parseKubeletRequest(
      "GET",
      "/containerLogs/ns/p/c",
      "sinceSeconds=3600&sinceTime=2026-11-23T09:59:00Z",
      now,
    );
    expect(request.kind === "logs" && request.sinceMs).toBe(Date.parse("2026-11-23T09:59:00Z"));
  });

  it("parse exec with its repeated command and flags; a terminal drops stderr, as the kubelet does", () => {
    expect(
      parseKubeletRequest(
        "POST",
        "/exec/ns/p/c",
        "command=sh&command=-c&command=echo+hi&error=1&input=1&output=1&tty=1",
      ),
    ).toEqual({
      kind: "exec",
      namespace: "ns",
      pod: "p",
      container: "c",
      command: ["sh", "-c", "echo hi"],
      stdin: true,
      stdout: true,
      stderr: false,
      tty: true,
    });
    // The uid form the kubelet also routes.
    expect(parseKubeletRequest("POST", "/attach/ns/p/uid-1/c", "output=1")).toMatchObject({
      kind: "attach",
      container: "c",
      command: [],
    });
  });

  it("parse port-forward with and without ports", () => {
    expect(parseKubeletRequest("POST", "/portForward/ns/p", "")).toEqual({
      kind: "portForward",
      namespace: "ns",
      pod: "p",
      ports: [],
    });
    expect(parseKubeletRequest("GET", "/portForward/ns/p", "port=80,443")).toMatchObject({
      ports: [80, 443],
    });
  });

  it.each([
    ["GET", "/containerLogs/ns/p", "", 404, /not a kubelet streaming path/],
    ["GET", "/stats/summary", "", 404, /not a kubelet streaming path/],
    ["POST", "/containerLogs/ns/p/c", "", 405, /POST is not allowed/],
    ["GET", "/containerLogs/ns/p/c", "tailLines=-1", 400, /tailLines/],
    ["GET", "/containerLogs/ns/p/c", "follow=maybe", 400, /follow: "maybe" is not a boolean/],
    ["GET", "/containerLogs/ns/p/c", "sinceTime=yesterday", 400, /sinceTime/],
    ["GET", "/containerLogs/NS/p/c", "", 400, /namespace "NS" is not a valid name/],
    ["GET", "/containerLogs/ns/p/c%ZZ", "", 400, /container name: bad percent-encoding/],
    ["POST", "/exec/ns/p/c", "output=1", 400, /no command/],
    ["POST", "/exec/ns/p/c", "command=ls", 400, /at least 1 of stdin, stdout, stderr/],
    ["POST", "/portForward/ns/p", "port=0", 400, /port: "0"/],
  ])("refuse %s %s?%s with %d naming the problem", (method, path, query, status, message) => {
    let caught: unknown;
    try {
      parseKubeletRequest(method, path, query);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StreamRequestError);
    expect((caught as StreamRequestError).status).toBe(status);
    expect((caught as StreamRequestError).message).toMatch(message);
  });

  it("encode the connect payload as KubeEdge does and decode it back", () => {
    const payload = encodeConnectPayload({
      id: 7,
      method: "POST",
      path: "/exec/ns/p/c",
      query: "command=ls&output=1",
      headers: new Map([["x-stream-protocol-version", ["v4.channel.k8s.io", "v3.channel.k8s.io"]]]),
    });
    expect(JSON.parse(Buffer.from(payload).toString())).toEqual({
      MessID: 7,
      url: { Scheme: "http", Host: "127.0.0.1:10350", Path: "/exec/ns/p/c", RawQuery: "command=ls&output=1" },
      header: { "X-Stream-Protocol-Version": ["v4.channel.k8s.io", "v3.channel.k8s.io"] },
      method: "POST",
    });
    const decoded = decodeConnectPayload(payload);
    expect(decoded.headers.get("x-stream-protocol-version")).toEqual([
      "v4.channel.k8s.io",
      "v3.channel.k8s.io",
    ]);
    expect(decoded).toMatchObject({
      id: 7,
      method: "POST",
      path: "/exec/ns/p/c",
      query: "command=ls&output=1",
    });
  });

  it("refuse a connect payload that is not KubeEdge's shape, naming the field", () => {
    expect(() => decodeConnectPayload(Buffer.from("{"))).toThrow(/not JSON/);
    expect(() => decodeConnectPayload(Buffer.from(JSON.stringify({ MessID: 1, url: {} })))).toThrow(
      /url\.Path/,
    );
  });
});
