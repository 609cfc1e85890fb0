import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isEmptyResult,
  PrometheusApiError,
  PrometheusClient,
  PrometheusQueryError,
} from "./prometheus-client.js";

/** Answers as Prometheus' HTTP API does, from canned bodies; records what it was asked. */
describe("PrometheusClient against a stand-in for Prometheus' HTTP API", () => {
  let server: Server;
  let url: string;
  const asked: { method: string; path: string; params: URLSearchParams }[] = [];
  const body = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      void (async () => {
        const target = new URL(req.url ?? "/", "http://x");
        const params = req.method === "POST" ? new URLSearchParams(await body(req)) : target.searchParams;
        asked.push({ method: req.method ?? "", path: target.pathname, params });
        const reply = (status: number, json: unknown): void => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(typeof json === "string" ? json : JSON.stringify(json));
        };
        const query = params.get("query") ?? "";
        if (target.pathname === "/api/v1/query" && query === "up")
          reply(200, {
            status: "success",
            data: { resultType: "vector", result: [{ metric: { job: "a" }, value: [1700000000.5, "1"] }] },
          });
        else if (target.pathname === "/api/v1/query" && query === "absent_metric")
          reply(200, { status: "success", data: { resultType: "vector", result: [] } });
        else if (target.pathname === "/api/v1/query" && query === "scalar(1)")
          reply(200, { status: "success", data: { resultType: "scalar", result: [1700000000, "1"] } });
        else if (target.pathname === "/api/v1/query" && query === "html")
          reply(502, "<html>bad gateway</html>");
        else if (target.pathname === "/api/v1/query")
          reply(400, {
            status: "error",
            errorType: "bad_data",
            error: 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
          });
        else if (target.pathname === "/api/v1/query_range")
          reply(200, {
            status: "success",
            data: {
              resultType: "matrix",
              result: [
                {
                  metric: {},
                  values: [
                    [1, "1"],
                    [2, "2"],
                  ],
                },
              ],
            },
          });
        else if (target.pathname === "/api/v1/targets")
          reply(200, {
            status: "success",
            data: {
              activeTargets: [
                {
                  labels: { job: "a", instance: "127.0.0.1:1" },
                  scrapeUrl: "http://127.0.0.1:1/metrics",
                  health: "down",
                  lastError: "connection refused",
                  lastScrape: "2024-01-01T00:00:00Z",
                  scrapePool: "a",
                },
              ],
              droppedTargets: [],
            },
          });
        else if (target.pathname === "/api/v1/metadata")
          reply(200, {
            status: "success",
            data: { edgefleet_connected_nodes: [{ type: "gauge", help: "tunnels", unit: "" }] },
          });
        else reply(404, { status: "error", errorType: "not_found", error: "no such path" });
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("posts instant queries with their time and returns the typed result", async () => {
    const client = new PrometheusClient(url);
    const result = await client.query("up", new Date(1_700_000_000_500));
    expect(result).toEqual({
      resultType: "vector",
      result: [{ metric: { job: "a" }, value: [1700000000.5, "1"] }],
    });
    expect(isEmptyResult(result)).toBe(false);
    expect(asked.at(-1)).toMatchObject({ method: "POST", path: "/api/v1/query" });
    expect(asked.at(-1)?.params.get("time")).toBe("1700000000.5");
    expect(isEmptyResult(await client.query("absent_metric"))).toBe(true);
    expect(isEmptyResult(await client.query("scalar(1)"))).toBe(false);
  });

  it("throws PrometheusQueryError with Prometheus' error text, type and status", async () => {
    const err: unknown = await new PrometheusClient(url).query("sum(up").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusQueryError);
    expect(err).toMatchObject({
      code: "EF_ERR_PROMETHEUS_QUERY",
      errorType: "bad_data",
      status: 400,
      expr: "sum(up",
      message: 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
    });
  });

  it("throws PrometheusApiError for an answer that is not the API's, and for a Prometheus that is not there", async () => {
    const html: unknown = await new PrometheusClient(url).query("html").catch((e: unknown) => e);
    expect(html).toBeInstanceOf(PrometheusApiError);
    expect(html).not.toBeInstanceOf(PrometheusQueryError);
    expect((html as Error).message).toMatch(/HTTP 502, not a Prometheus API answer: <html>/);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused: unknown = await new PrometheusClient(`http://127.0.0.1:${port}`)
      .query("up")
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "EF_ERR_PROMETHEUS_API" });
  });

  it("reads range queries, targets and metadata", async () => {
    const client = new PrometheusClient(url);
    const series = await client.queryRange("up", {
      start: new Date(1000),
      end: new Date(2000),
      stepSeconds: 1,
    });
    expect(series).toEqual([
      {
        metric: {},
        values: [
          [1, "1"],
          [2, "2"],
        ],
      },
    ]);
    expect(Object.fromEntries(asked.at(-1)?.params ?? [])).toEqual({
      query: "up",
      start: "1",
      end: "2",
      step: "1",
    });
    expect(await client.targets()).toEqual([
      {
        labels: { job: "a", instance: "127.0.0.1:1" },
        scrapeUrl: "http://127.0.0.1:1/metrics",
        health: "down",
        lastError: "connection refused",
        lastScrape: "2024-01-01T00:00:00Z",
      },
    ]);
    expect(asked.at(-1)?.params.get("state")).toBe("active");
    expect(await client.metadata()).toEqual({
      edgefleet_connected_nodes: [{ type: "gauge", help: "tunnels", unit: "" }],
    });
  });
});
