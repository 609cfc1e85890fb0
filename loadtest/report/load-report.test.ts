import { describe, expect, it } from "vitest";
import { LOAD_REPORT_SCHEMA, LoadReportError, parseLoadReport } from "./load-report.js";
import { sampleReport } from "./sample-report.js";

const text = (value: unknown): string => JSON.stringify(value, null, 2);

describe("load report schema", () => {
  it("sampleReport() round-trips through JSON unchanged", () => {
    const report = sampleReport();
    expect(parseLoadReport(text(report), "sample.json")).toEqual(report);
    expect(parseLoadReport(report, "sample")).toEqual(report);
  });

  it("overrides replace top-level fields and stay valid", () => {
    const report = sampleReport({ http: [], errors: [] });
    expect(parseLoadReport(text(report), "x.json").http).toEqual([]);
  });

  it("a wrong field is refused with the file name and the field path", () => {
    const report = sampleReport();
    const bad = JSON.parse(text(report)) as { phases: { latencies: Record<string, { p99: unknown }> }[] };
    const rtt = bad.phases[2]?.latencies["rtt"];
    if (!rtt) throw new Error("sample report has no rtt in steady");
    rtt.p99 = "slow";
    expect(() => parseLoadReport(text(bad), "a.json")).toThrow(
      "a.json: phases.2.latencies.rtt.p99: Expected number, received string",
    );
    try {
      parseLoadReport(text(bad), "a.json");
    } catch (err) {
      expect(err).toBeInstanceOf(LoadReportError);
      expect((err as LoadReportError).code).toBe("EF_ERR_LOAD_REPORT");
      expect((err as LoadReportError).path).toBe("phases.2.latencies.rtt.p99");
    }
  });

  it("a missing field names its path", () => {
    const { memory: _memory, ...rest } = sampleReport();
    expect(() => parseLoadReport(text(rest), "b.json")).toThrow(/^b\.json: memory: Required/);
  });

  it("a newer schema version is refused before its fields are read", () => {
    const newer = { ...sampleReport(), schema: "edgefleet.io/load-report/v2", phases: "changed shape" };
    expect(() => parseLoadReport(text(newer), "new.json")).toThrow(
      /^new\.json: schema: edgefleet\.io\/load-report\/v2 is newer than this edgefleet-load reads/,
    );
  });

  it("an unknown schema value or none at all is refused", () => {
    expect(() => parseLoadReport(text({ ...sampleReport(), schema: "acme/v1" }), "c.json")).toThrow(
      `c.json: schema: "acme/v1" is not ${LOAD_REPORT_SCHEMA}`,
    );
    expect(() => parseLoadReport(text({ tool: "edgefleet-sim", phases: [] }), "sim.json")).toThrow(
      "sim.json: schema: missing: a report of edgefleet-sim",
    );
  });

  it("text that is not JSON, or not an object, is refused", () => {
    expect(() => parseLoadReport("{", "d.json")).toThrow(/^d\.json: not JSON/);
    expect(() => parseLoadReport("[]", "e.json")).toThrow("e.json: not a load report");
  });
});
