import { describe, expect, it } from "vitest";
import { fieldMatcher, labelMatcher, SelectorError } from "./selectors.js";

const obj = (labels: Record<string, string>, spec: Record<string, unknown> = {}): unknown => ({
  metadata: { name: "p", namespace: "ns", labels },
  spec,
});

describe("label selectors", () => {
  it("match equality, inequality, set and existence requirements together", () => {
    const m = labelMatcher("app=web, tier!=db,env in (prod, staging),!legacy,team");
    expect(m(obj({ app: "web", env: "prod", team: "a" }))).toBe(true);
    expect(m(obj({ app: "web", env: "dev", team: "a" }))).toBe(false);
    expect(m(obj({ app: "web", env: "prod", team: "a", legacy: "1" }))).toBe(false);
    expect(m(obj({ app: "web", env: "prod" }))).toBe(false);
    expect(m(obj({ app: "web", env: "prod", team: "a", tier: "db" }))).toBe(false);
  });

  it("treat notin as true for a missing label and == like =", () => {
    expect(labelMatcher("env notin (prod)")(obj({}))).toBe(true);
    expect(labelMatcher("app==web")(obj({ app: "web" }))).toBe(true);
    expect(labelMatcher("")(obj({}))).toBe(true);
  });

  it("reject a malformed key with an error naming the parameter", () => {
    expect(() => labelMatcher("a b=c")).toThrow(SelectorError);
    expect(() => labelMatcher("app=in valid")).toThrow(/labelSelector/);
  });
});

describe("field selectors", () => {
  it("match supported fields with = and !=", () => {
    const m = fieldMatcher("spec.nodeName=edge-1,metadata.name!=q", ["spec.nodeName"]);
    expect(m(obj({}, { nodeName: "edge-1" }))).toBe(true);
    expect(m(obj({}, { nodeName: "edge-2" }))).toBe(false);
  });

  it("reject a field the resource does not support, naming it", () => {
    expect(() => fieldMatcher("spec.foo=1")).toThrow(/field "spec.foo" is not supported/);
  });
});
